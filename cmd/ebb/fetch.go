package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ebbmail/ebb/internal/daemon"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetch"
)

const fetchUsage = `ebb fetch add NAME --server HOST[:PORT] --user USER --to MAILBOX [options] | list [--json] | remove NAME |
  test NAME | run [NAME...] | auth NAME [--loopback] | passwd NAME | reset NAME | enable NAME | disable NAME |
  retry NAME [UID...]
  Fetches mail from remote IMAP and POP3 accounts into local mailboxes, exactly once (docs/fetch.md).`

// runFetch is `ebb fetch`.
func runFetch(e *env) int {
	if len(e.args) == 0 {
		fmt.Fprintln(e.stderr, "usage: "+fetchUsage)
		return diag.ExUsage
	}
	sub, args := e.args[0], e.args[1:]
	c := newAdminCmd(e, "ebb fetch "+sub)
	switch sub {
	case "add":
		return fetchAdd(c, args)
	case "list":
		return fetchList(c, args)
	case "remove", "reset", "enable", "disable", "passwd":
		if !c.parse(args, 1, 1, "ebb fetch "+sub+" NAME") {
			return diag.ExUsage
		}
		if code := c.open(); code != 0 {
			return code
		}
		defer c.close()
		name := c.args[0]
		var err error
		switch sub {
		case "remove":
			err = c.dir.RemoveFetchAccount(e.ctx, name)
		case "reset":
			if _, err = c.dir.FetchAccount(e.ctx, name); err == nil {
				err = c.dir.ResetFetchFolders(e.ctx, name)
			}
		case "enable", "disable":
			err = c.dir.SetFetchEnabled(e.ctx, name, sub == "enable")
		case "passwd":
			var pw string
			if pw, err = readPassword(e, "password of the remote account: ", false); err == nil {
				err = c.dir.SetFetchPassword(e.ctx, name, pw)
			}
		}
		if err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(e.stdout, "fetch account %s: %s done\n", name, sub)
		return 0
	case "test":
		if !c.parse(args, 1, 1, "ebb fetch test NAME") {
			return diag.ExUsage
		}
		if code := c.open(); code != 0 {
			return code
		}
		defer c.close()
		a, err := c.dir.FetchAccount(e.ctx, c.args[0])
		if err != nil {
			return c.fail(err)
		}
		f := &fetch.Fetcher{Cfg: c.conf.Fetch, Store: c.dir}
		if err := f.Test(e.ctx, a, e.stdout); err != nil {
			return c.fail(err)
		}
		return 0
	case "auth":
		return fetchAuth(c, args)
	case "retry":
		return fetchRetry(c, args)
	case "run":
		if !c.parse(args, 0, -1, "ebb fetch run [-c FILE] [NAME...]") {
			return diag.ExUsage
		}
		tty := false
		if f, ok := e.stdout.(*os.File); ok {
			_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
			tty = err == nil
		}
		return daemon.FetchRun(e.ctx, daemon.FetchRunOptions{ConfigPath: c.cfg, Accounts: c.args,
			Progress: func() fetch.Progress { return fetch.NewBar(e.stdout, tty) }, Stdout: e.stdout, Stderr: e.stderr})
	}
	fmt.Fprintf(e.stderr, "ebb fetch: unknown subcommand %q\nusage: %s\n", sub, fetchUsage)
	return diag.ExUsage
}

func fetchAdd(c *adminCmd, args []string) int {
	e := c.e
	fs := c.fs
	var o fetch.AccountOptions
	fs.StringVar(&o.Server, "server", "", "the remote server, HOST or HOST:PORT (an --oauth2 preset fills it when empty)")
	fs.StringVar(&o.Protocol, "protocol", "imap", "imap or pop3")
	fs.StringVar(&o.TLS, "tls", "implicit", "implicit (993/995), starttls (143/110), or none (needs --allow-plaintext)")
	fs.BoolVar(&o.AllowPlaintext, "allow-plaintext", false, "allow --tls none: the password crosses the network in the clear")
	fs.StringVar(&o.CAFile, "ca-file", "", "PEM CA certificate(s) to verify the server with (a private CA or a self-signed server)")
	fs.BoolVar(&o.SkipVerify, "insecure-skip-verify", false, "do not verify the server's certificate (never for a server on the internet)")
	fs.StringVar(&o.User, "user", "", "the remote login")
	fs.StringVar(&o.To, "to", "", "the local mailbox it delivers to")
	fs.StringVar(&o.Folders, "folder", "INBOX", "IMAP folders to fetch, comma-separated")
	fs.StringVar(&o.After, "after", "keep", "after delivery: keep, delete, or move (IMAP; with --move-to)")
	fs.StringVar(&o.MoveTo, "move-to", "", "the server folder for --after move")
	fs.DurationVar(&o.Interval, "interval", 0, "how often to poll (0: fetch.interval; IDLE fetches at once anyway)")
	fs.StringVar(&o.OAuth2, "oauth2", "", "log in with OAuth2: google, microsoft, or custom (then --token-url, --device-url/--auth-url); no password")
	fs.StringVar(&o.ClientID, "client-id", "", "OAuth2 client id (registered with the provider)")
	fs.StringVar(&o.ClientSecret, "client-secret", "", "OAuth2 client secret, if the provider gave one")
	fs.StringVar(&o.TokenURL, "token-url", "", "OAuth2 token endpoint (custom)")
	fs.StringVar(&o.DeviceURL, "device-url", "", "OAuth2 device authorization endpoint (custom)")
	fs.StringVar(&o.AuthURL, "auth-url", "", "OAuth2 authorization endpoint for the loopback flow (custom)")
	fs.StringVar(&o.Scopes, "scope", "", "OAuth2 scopes, space-separated (default: the preset's)")
	fs.StringVar(&o.Mechanism, "mechanism", "XOAUTH2", "SASL mechanism for OAuth2: XOAUTH2 or OAUTHBEARER (RFC 7628)")
	if !c.parse(args, 1, 1, "ebb fetch add NAME --server HOST[:PORT] --user USER --to MAILBOX [options]") {
		return diag.ExUsage
	}
	o.Name = c.args[0]
	a, err := fetch.NewAccount(o)
	if err != nil {
		fmt.Fprintf(e.stderr, "ebb fetch add: %v\n", err)
		return diag.ExUsage
	}
	if a.CAFile != "" {
		if _, err := os.Stat(a.CAFile); err != nil {
			return c.fail(diag.PathError("ebb fetch add", "stat", "read the CA file", a.CAFile, err, nil))
		}
	}
	if a.Auth == "password" {
		pw, err := readPassword(e, "password of "+a.Username+" at "+a.Host+": ", false)
		if err != nil {
			return c.fail(err)
		}
		a.Password = pw
	}
	if code := c.open(); code != 0 {
		return code
	}
	defer c.close()
	if err := c.dir.AddFetchAccount(e.ctx, a); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(e.stdout, "fetch account %s added: %s %s:%d (%s) as %s → %s\n", a.Name, a.Protocol, a.Host, a.Port, a.TLS, a.Username, a.Mailbox)
	if a.Auth == "oauth2" {
		fmt.Fprintf(e.stdout, "next: ebb fetch auth %s (grants ebb access once; the refresh token is stored)\n", a.Name)
	}
	return 0
}

// listedAccount is an account as ebb fetch list --json shows it: with
// the messages that stay on its server (skipped) and how many wait in the
// queue (their server copies go once they are delivered).
type listedAccount struct {
	*directory.FetchAccount
	Skipped []skippedMessage `json:"skipped"`
	Waiting int              `json:"waiting"`
}

type skippedMessage struct {
	Folder      string    `json:"folder"`
	UIDValidity uint32    `json:"uidvalidity,omitempty"`
	UID         string    `json:"uid"`
	Size        int64     `json:"size"`
	Summary     string    `json:"summary,omitempty"`
	Reason      string    `json:"reason"`
	Ref         string    `json:"ref,omitempty"`
	QueueID     string    `json:"queue_id,omitempty"`
	Notified    bool      `json:"notified"`
	At          time.Time `json:"at"`
}

func fetchList(c *adminCmd, args []string) int {
	e := c.e
	asJSON := c.fs.Bool("json", false, "print JSON")
	if !c.parse(args, 0, 0, "ebb fetch list [--json]") {
		return diag.ExUsage
	}
	if code := c.open(); code != 0 {
		return code
	}
	defer c.close()
	as, err := c.dir.FetchAccounts(e.ctx)
	if err != nil {
		return c.fail(err)
	}
	listed := make([]listedAccount, 0, len(as))
	for _, a := range as {
		la := listedAccount{FetchAccount: a, Skipped: []skippedMessage{}}
		ms, err := c.dir.FetchedByState(e.ctx, a.Name, directory.FetchSkipped, directory.FetchQueued)
		if err != nil {
			return c.fail(err)
		}
		for _, m := range ms {
			if m.State == directory.FetchQueued {
				la.Waiting++
				continue
			}
			la.Skipped = append(la.Skipped, skippedMessage{Folder: m.Folder, UIDValidity: m.UIDValidity, UID: m.UID, Size: m.Size,
				Summary: m.Summary, Reason: m.Reason, Ref: m.Ref, QueueID: m.QueueID, Notified: m.Notified, At: m.At.UTC()})
		}
		listed = append(listed, la)
	}
	if *asJSON {
		for _, la := range listed {
			if la.OAuth != nil { // secrets stay in the database
				o := *la.OAuth
				o.ClientSecret, o.RefreshToken, o.AccessToken = redact(o.ClientSecret), redact(o.RefreshToken), redact(o.AccessToken)
				la.OAuth = &o
			}
		}
		writeJSON(e.stdout, listed)
		return 0
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tSERVER\tUSER\tTO\tAFTER\tLAST\tSTATUS")
	for _, la := range listed {
		a := la.FetchAccount
		last, status := "never", "not fetched yet"
		if !a.Status.At.IsZero() {
			last = a.Status.At.Local().Format("2006-01-02 15:04:05")
			if a.Status.OK {
				status = fmt.Sprintf("ok (%d fetched in all)", a.Status.Fetched)
			} else {
				status = fmt.Sprintf("FAILING (%s, %d in a row): %s", a.Status.Cause, a.Status.Failures, a.Status.Text)
			}
		}
		if !a.Enabled {
			status = "disabled; " + status
		}
		if n := len(la.Skipped); n > 0 {
			status += fmt.Sprintf("; %d skipped, left on the server (below)", n)
		}
		if la.Waiting > 0 {
			status += fmt.Sprintf("; %d in the queue, their server copies kept until delivered", la.Waiting)
		}
		if a.OAuth != nil {
			switch {
			case a.OAuth.RefreshToken == "" && a.OAuth.AccessToken == "":
				status += "; OAuth2: no consent yet, run ebb fetch auth " + a.Name
			case !a.OAuth.Consented.IsZero():
				status += fmt.Sprintf("; OAuth2 consent given %s (renew with ebb fetch auth %s if the provider revokes it, e.g. after 90 days unused)",
					a.OAuth.Consented.Local().Format("2006-01-02"), a.Name)
			}
		}
		after := a.After
		if a.After == "move" {
			after += " to " + a.MoveTo
		}
		fmt.Fprintf(tw, "%s\t%s %s:%d\t%s\t%s\t%s\t%s\t%s\n", a.Name, a.Protocol, a.Host, a.Port, a.Username, a.Mailbox, after, last, status)
	}
	tw.Flush()
	for _, la := range listed {
		for _, m := range la.Skipped {
			where := "folder " + m.Folder + " UID " + m.UID
			if la.Protocol == "pop3" {
				where = "UIDL " + m.UID
			}
			told := "owner and postmaster told"
			if !m.Notified {
				told = "notice not sent yet"
			}
			fmt.Fprintf(e.stdout, "  %s skipped %s (%s, %s, %s): %s", la.Name, where, m.At.Local().Format("2006-01-02 15:04"),
				diag.HumanBytes(uint64(max(m.Size, 0))), told, m.Summary)
			fmt.Fprintf(e.stdout, "\n    why: %s\n    again: ebb fetch retry %s %s\n", m.Reason, la.Name, m.UID)
		}
	}
	return 0
}

// fetchRetry is ebb fetch retry: skipped messages are asked for again
// (once the cause is fixed); the next pass fetches them as new ones.
func fetchRetry(c *adminCmd, args []string) int {
	e := c.e
	if !c.parse(args, 1, -1, "ebb fetch retry NAME [UID...]") {
		return diag.ExUsage
	}
	if code := c.open(); code != 0 {
		return code
	}
	defer c.close()
	name := c.args[0]
	if _, err := c.dir.FetchAccount(e.ctx, name); err != nil {
		return c.fail(err)
	}
	n, err := c.dir.RetryFetched(e.ctx, name, c.args[1:])
	if err != nil {
		return c.fail(err)
	}
	if n == 0 {
		fmt.Fprintf(e.stderr, "ebb fetch retry: account %s has no skipped message %s (ebb fetch list shows them)\n", name, strings.Join(c.args[1:], " "))
		return diag.ExNoInput
	}
	fmt.Fprintf(e.stdout, "fetch account %s: %d skipped messages are fetched again at the next pass\n", name, n)
	return 0
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "(stored)"
}

func fetchAuth(c *adminCmd, args []string) int {
	e := c.e
	loopback := c.fs.Bool("loopback", false, "use the authorization code flow with a browser on this machine instead of the device code")
	timeout := c.fs.Duration("timeout", 15*time.Minute, "how long to wait for the user's consent")
	if !c.parse(args, 1, 1, "ebb fetch auth NAME [--loopback]") {
		return diag.ExUsage
	}
	if code := c.open(); code != 0 {
		return code
	}
	defer c.close()
	a, err := c.dir.FetchAccount(e.ctx, c.args[0])
	if err != nil {
		return c.fail(err)
	}
	if a.OAuth == nil {
		fmt.Fprintf(e.stderr, "ebb fetch auth: account %s logs in with a password; add it with --oauth2 to use OAuth2\n", a.Name)
		return diag.ExUsage
	}
	ctx, cancel := context.WithTimeout(e.ctx, *timeout)
	defer cancel()
	var o *directory.OAuth2
	if *loopback || a.OAuth.DeviceURL == "" {
		o, err = fetch.LoopbackAuth(ctx, a.OAuth, e.stdout, nil)
	} else {
		o, err = fetch.DeviceAuth(ctx, a.OAuth, e.stdout, nil)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "ebb fetch auth %s: %v\n", a.Name, err)
		return diag.ExTempFail
	}
	if err := c.dir.SetFetchOAuth(e.ctx, a.Name, o); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(e.stdout, "fetch account %s: access granted; the refresh token is stored (ebb serve uses it from its next reload)\n", a.Name)
	return 0
}
