package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/fetchstate"
	"github.com/ebbmail/ebb/internal/mailuser"
)

// What the ebb fetch subcommands do with an account in the directory's
// fetch state; cmd/ebb declares their flags and calls these.

// CheckCAFile says when the CA file an account is given is not there, so
// that ebb fetch add and set refuse it before it is stored (whether the
// daemon's user can read it, Reach and ebb fetch test say).
func CheckCAFile(path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		return diag.PathError("", "stat", "read the CA file", path, err, nil)
	}
	return nil
}

// Add stores a new account and says what to do next.
func Add(ctx context.Context, s *fetchstate.Store, a fetchstate.FetchAccount, w io.Writer) error {
	if err := s.AddFetchAccount(ctx, a); err != nil {
		return err
	}
	fmt.Fprintf(w, "fetch account %s added: %s %s:%d (%s) as %s → %s\n", a.Name, a.Protocol, a.Host, a.Port, a.TLS, a.Username, a.Mailbox)
	if a.Auth == "oauth2" {
		fmt.Fprintf(w, "next: ebb fetch auth %s (grants ebb access once; the refresh token is stored)\n", a.Name)
	} else {
		fmt.Fprintf(w, "next: ebb fetch test %s (logs in, fetches nothing); a running ebb serve starts it within 30 s, or at once on: systemctl reload ebb\n", a.Name)
	}
	return nil
}

// Set applies ch to the account name and stores it, keeping what it
// fetched (a server moved to another name, a CA file, a folder).
func Set(ctx context.Context, s *fetchstate.Store, name string, ch Changes, w io.Writer) error {
	a, err := s.FetchAccount(ctx, name)
	if err != nil {
		return err
	}
	n, err := Change(*a, ch)
	if err != nil {
		return cli.Errorf(diag.ExUsage, "%v", err)
	}
	if err := s.UpdateFetchAccount(ctx, n); err != nil {
		return err
	}
	fmt.Fprintf(w, "fetch account %s: %s %s:%d (%s), folders %s, after %s; ebb serve uses it from its next reload of the accounts (30 s)\n",
		n.Name, n.Protocol, n.Host, n.Port, n.TLS, strings.Join(n.Folders, ","), n.After)
	return nil
}

// Reset makes the account go through its folders again (after a
// UIDVALIDITY change), skipping what it took before.
func Reset(ctx context.Context, s *fetchstate.Store, name string) error {
	if _, err := s.FetchAccount(ctx, name); err != nil {
		return err
	}
	return s.ResetFetchFolders(ctx, name)
}

// Retry asks for the account's skipped messages again (those of uids, all
// without any): the next pass fetches them as new ones.
func Retry(ctx context.Context, s *fetchstate.Store, name string, uids []string, w io.Writer) error {
	if _, err := s.FetchAccount(ctx, name); err != nil {
		return err
	}
	n, err := s.RetryFetched(ctx, name, uids)
	if err != nil {
		return err
	}
	if n == 0 {
		return cli.Errorf(diag.ExNoInput, "account %s has no skipped message %s (ebb fetch list shows them)", name, strings.Join(uids, " "))
	}
	fmt.Fprintf(w, "fetch account %s: %d skipped messages are fetched again at the next pass\n", name, n)
	return nil
}

// AuthorizeStored is ebb fetch auth: Authorize within timeout, and the
// tokens stored for the daemon.
func AuthorizeStored(ctx context.Context, s *fetchstate.Store, name string, loopback bool, timeout time.Duration, w io.Writer) error {
	a, err := s.FetchAccount(ctx, name)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	o, err := Authorize(actx, a, loopback, w, nil)
	if err != nil {
		return authorizeError(a.Name, err)
	}
	if err := s.SetFetchOAuth(ctx, a.Name, o); err != nil {
		return err
	}
	fmt.Fprintf(w, "fetch account %s: access granted; the refresh token is stored (ebb serve uses it from its next reload)\n", a.Name)
	return nil
}

// authorizeError is how ebb fetch auth ends when Authorize failed: an
// error that knows its exit code keeps it and its own words (a
// *UsageError is 64, a *diag.Error its code and fix); any other is the
// provider's or the network's trouble, temporary (75), after the account.
func authorizeError(name string, err error) error {
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return err
	}
	return cli.Errorf(diag.ExTempFail, "%s: %v", name, err)
}

// TryAccount is ebb fetch test: it logs in to the account as a pass
// would, fetching nothing. Run as root, it reads the account's files (the
// CA file) as the daemon's user (server.user) would: root reads what the
// daemon may not.
func TryAccount(ctx context.Context, cfg *config.Config, s *fetchstate.Store, name string, w io.Writer) error {
	a, err := s.FetchAccount(ctx, name)
	if err != nil {
		return err
	}
	f := &Fetcher{Cfg: cfg.Fetch, Store: s, MaxMessageSize: int64(cfg.SMTP.MaxMessageSize), Setting: cfg.Setting}
	if os.Geteuid() == 0 {
		if u, err := mailuser.Lookup(cfg); err == nil && u.UID != 0 {
			f.ReadAs = u.Identity()
		}
	}
	return f.Test(ctx, a, w)
}
