package doctor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetch"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// fetchChecks look at every enabled fetch account: an account that keeps
// failing (fetch.failing_after attempts in a row) with the cause of its
// last failure; its server reached for real (TLS verified, greeting read;
// no login, nothing changed) with its CA file read as the daemon's user;
// OAuth2 consent given.
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
	as, err := fetchstate.New(d).FetchAccounts(octx)
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
	// Reach reads each account's CA file as ebb serve will: as server.user
	// (every directory above it searched, the file read) when doctor runs
	// as root, and fails with that user's path error and its fix.
	f := &fetch.Fetcher{Cfg: env.Cfg.Fetch}
	if u := env.Probe.As; u != nil {
		f.ReadAs = &diag.Identity{UID: u.UID, User: u.Name, GID: u.GID}
	}
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
			e := diag.New(a.Status.Cause, "fetch the account", subject,
				fmt.Errorf("%s in a row failed (%s); the last, at %s: %s", diag.Count(a.Status.Failures, "attempt"), since,
					a.Status.At.Local().Format(time.DateTime), a.Status.Text))
			e.Setting = env.Cfg.Setting("fetch.failing_after")
			e.Hint = "fix the cause named above; ebb fetch test " + a.Name + " tries the login now"
			add(Failed(name, e))
		}
		if a.OAuth != nil && a.OAuth.RefreshToken == "" && a.OAuth.AccessToken == "" {
			e := diag.New("token", "log in to fetch account "+a.Name, subject, errors.New("no OAuth2 consent was given yet"))
			e.Hint = "run: ebb fetch auth " + a.Name
			add(Warned(name, e))
		}
		wg.Add(1)
		go func(a *fetchstate.FetchAccount) {
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
