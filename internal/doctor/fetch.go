package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetch"
)

// fetchChecks look at every enabled fetch account: an account that keeps
// failing (fetch.failing_after attempts in a row) with the cause of its
// last failure; its server reached for real (TLS verified, greeting read;
// no login, nothing changed); its CA file readable; OAuth2 consent given.
func fetchChecks() []Check {
	return []Check{{Name: "fetch", Run: checkFetch}}
}

func checkFetch(ctx context.Context, env *Env) []Finding {
	const name = "fetch"
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := directory.OpenWith(octx, env.Cfg, directory.Options{ReadOnly: true, NoMigrate: true, Logger: env.Log})
	if err != nil {
		return nil // the directory check says why
	}
	defer d.Close()
	if v, err := d.CurrentVersion(octx); err != nil || v < 2 {
		return nil // no fetch tables yet: the directory check reports the schema
	}
	as, err := d.FetchAccounts(octx)
	if err != nil {
		return []Finding{Failed(name, diag.From(err, "ebb doctor", "list"))}
	}
	var mu sync.Mutex
	var out []Finding
	add := func(f ...Finding) {
		mu.Lock()
		out = append(out, f...)
		mu.Unlock()
	}
	f := &fetch.Fetcher{Cfg: env.Cfg.Fetch}
	var wg sync.WaitGroup
	for _, a := range as {
		if !a.Enabled {
			continue
		}
		subject := fmt.Sprintf("%s (%s %s:%d)", a.Name, a.Protocol, a.Host, a.Port)
		if a.Status.Failures >= env.Cfg.Fetch.FailingAfter {
			since := "it never fetched"
			if !a.Status.LastOK.IsZero() {
				since = "last success " + a.Status.LastOK.Local().Format(time.DateTime)
			}
			e := diag.New(a.Status.Cause, "fetch the account "+a.Name, subject,
				fmt.Errorf("%s in a row failed (%s); the last, at %s: %s", diag.Count(a.Status.Failures, "attempt"), since,
					a.Status.At.Local().Format(time.DateTime), a.Status.Text))
			e.Setting = env.Cfg.Setting("fetch.failing_after")
			e.Hint = "fix the cause named above; ebb fetch test " + a.Name + " tries the login now"
			add(Failed(name, e))
		}
		if a.CAFile != "" {
			if _, err := os.ReadFile(a.CAFile); err != nil {
				add(Failed(name, diag.PathError("ebb doctor", "open", "read the CA file of fetch account "+a.Name, a.CAFile, err, nil)))
			} else if u := env.Probe.As; u != nil && !readableBy(a.CAFile, u.UID, u.GID) {
				// The daemon reads it as server.user, not as root.
				e := diag.New("open", "read the CA file of fetch account "+a.Name, a.CAFile, syscall.EACCES)
				e.Found = diag.Describe(a.CAFile)
				e.Who = &diag.Identity{UID: u.UID, User: u.Name, GID: u.GID}
				e.Hint = "a CA certificate is public: make it readable by " + u.Name + " (chmod 0644 " + a.CAFile + "), or copy it to a file of its own"
				add(Failed(name, e))
			}
		}
		if a.OAuth != nil && a.OAuth.RefreshToken == "" && a.OAuth.AccessToken == "" {
			e := diag.New("token", "log in to fetch account "+a.Name, subject, errors.New("no OAuth2 consent was given yet"))
			e.Hint = "run: ebb fetch auth " + a.Name
			add(Warned(name, e))
		}
		wg.Add(1)
		go func(a *directory.FetchAccount) {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, env.Cfg.Fetch.Timeout.Duration)
			defer cancel()
			if err := f.Reach(rctx, a); err != nil {
				de, _ := diag.As(err)
				if de == nil {
					de = diag.From(err, "ebb doctor", "connect")
				}
				add(Failed(name, de))
				return
			}
			add(Passed(name, subject, "the server answers (TLS verified where used)"))
		}(a)
	}
	wg.Wait()
	if len(as) == 0 {
		out = append(out, Passed(name, "", "no fetch accounts"))
	}
	return out
}
