package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
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
  test NAME | run [NAME...] | auth NAME [--loopback] | passwd NAME | reset NAME | enable NAME | disable NAME
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
	server := fs.String("server", "", "the remote server, HOST or HOST:PORT (an --oauth2 preset fills it when empty)")
	proto := fs.String("protocol", "imap", "imap or pop3")
	tlsMode := fs.String("tls", "implicit", "implicit (993/995), starttls (143/110), or none (needs --allow-plaintext)")
	plain := fs.Bool("allow-plaintext", false, "allow --tls none: the password crosses the network in the clear")
	caFile := fs.String("ca-file", "", "PEM CA certificate(s) to verify the server with (a private CA or a self-signed server)")
	noVerify := fs.Bool("insecure-skip-verify", false, "do not verify the server's certificate (never for a server on the internet)")
	user := fs.String("user", "", "the remote login")
	to := fs.String("to", "", "the local mailbox it delivers to")
	folders := fs.String("folder", "INBOX", "IMAP folders to fetch, comma-separated")
	after := fs.String("after", "keep", "after delivery: keep, delete, or move (IMAP; with --move-to)")
	moveTo := fs.String("move-to", "", "the server folder for --after move")
	interval := fs.Duration("interval", 0, "how often to poll (0: fetch.interval; IDLE fetches at once anyway)")
	oauth := fs.String("oauth2", "", "log in with OAuth2: google, microsoft, or custom (then --token-url, --device-url/--auth-url); no password")
	clientID := fs.String("client-id", "", "OAuth2 client id (registered with the provider)")
	clientSecret := fs.String("client-secret", "", "OAuth2 client secret, if the provider gave one")
	tokenURL := fs.String("token-url", "", "OAuth2 token endpoint (custom)")
	deviceURL := fs.String("device-url", "", "OAuth2 device authorization endpoint (custom)")
	authURL := fs.String("auth-url", "", "OAuth2 authorization endpoint for the loopback flow (custom)")
	scopes := fs.String("scope", "", "OAuth2 scopes, space-separated (default: the preset's)")
	mech := fs.String("mechanism", "XOAUTH2", "SASL mechanism for OAuth2: XOAUTH2 or OAUTHBEARER (RFC 7628)")
	if !c.parse(args, 1, 1, "ebb fetch add NAME --server HOST[:PORT] --user USER --to MAILBOX [options]") {
		return diag.ExUsage
	}
	bad := func(f string, a ...any) int {
		fmt.Fprintf(e.stderr, "ebb fetch add: "+f+"\n", a...)
		return diag.ExUsage
	}
	a := directory.FetchAccount{Name: c.args[0], Protocol: strings.ToLower(*proto), TLS: *tlsMode, Verify: !*noVerify,
		CAFile: *caFile, Username: *user, Mailbox: *to, After: *after, MoveTo: *moveTo, Interval: *interval, Enabled: true, Auth: "password"}
	if a.Protocol != "imap" && a.Protocol != "pop3" {
		return bad("--protocol %q: imap or pop3", *proto)
	}
	switch a.TLS {
	case "implicit", "starttls":
	case "none":
		if !*plain {
			return bad("--tls none sends the password in the clear: add --allow-plaintext if you mean it (a server on loopback or a trusted network)")
		}
	default:
		return bad("--tls %q: implicit, starttls or none", a.TLS)
	}
	switch a.After {
	case "keep", "delete":
	case "move":
		if a.Protocol == "pop3" {
			return bad("--after move: POP3 has no folders; use keep or delete")
		}
		if a.MoveTo == "" {
			return bad("--after move needs --move-to FOLDER")
		}
	default:
		return bad("--after %q: keep, delete or move", a.After)
	}
	if a.CAFile != "" {
		if _, err := os.Stat(a.CAFile); err != nil {
			return c.fail(diag.PathError("ebb fetch add", "stat", "read the CA file", a.CAFile, err, nil))
		}
	}
	for _, f := range strings.Split(*folders, ",") {
		if f = strings.TrimSpace(f); f != "" {
			a.Folders = append(a.Folders, f)
		}
	}
	if a.Protocol == "pop3" {
		a.Folders = []string{"INBOX"}
	}
	if *oauth != "" {
		a.Auth = "oauth2"
		o := &directory.OAuth2{Provider: *oauth, ClientID: *clientID, ClientSecret: *clientSecret, Mechanism: strings.ToUpper(*mech)}
		if p, ok := fetch.Providers[*oauth]; ok {
			o.AuthURL, o.TokenURL, o.DeviceURL, o.Scopes = p.AuthURL, p.TokenURL, p.DeviceURL, p.Scopes
			if *server == "" {
				*server = p.IMAPHost
				if a.Protocol == "pop3" {
					*server = p.POP3Host
				}
			}
		} else if *oauth != "custom" {
			return bad("--oauth2 %q: google, microsoft or custom", *oauth)
		}
		if *tokenURL != "" {
			o.TokenURL = *tokenURL
		}
		if *deviceURL != "" {
			o.DeviceURL = *deviceURL
		}
		if *authURL != "" {
			o.AuthURL = *authURL
		}
		if *scopes != "" {
			o.Scopes = strings.Fields(*scopes)
		}
		if o.ClientID == "" || o.TokenURL == "" {
			return bad("--oauth2 needs --client-id (and, for custom, --token-url)")
		}
		if o.Mechanism != "XOAUTH2" && o.Mechanism != "OAUTHBEARER" {
			return bad("--mechanism %q: XOAUTH2 or OAUTHBEARER", *mech)
		}
		a.OAuth = o
	}
	if *server == "" || a.Username == "" || a.Mailbox == "" {
		return bad("--server, --user and --to are needed")
	}
	host, port := *server, ""
	if h, p, err := net.SplitHostPort(*server); err == nil {
		host, port = h, p
	}
	a.Host = host
	if port == "" {
		port = map[string]string{"imap implicit": "993", "imap starttls": "143", "imap none": "143",
			"pop3 implicit": "995", "pop3 starttls": "110", "pop3 none": "110"}[a.Protocol+" "+a.TLS]
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return bad("--server %q: the port must be a number", *server)
	}
	a.Port = n
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
	if *asJSON {
		if as == nil {
			as = []*directory.FetchAccount{}
		}
		for _, a := range as {
			if a.OAuth != nil { // secrets stay in the database
				o := *a.OAuth
				o.ClientSecret, o.RefreshToken, o.AccessToken = redact(o.ClientSecret), redact(o.RefreshToken), redact(o.AccessToken)
				a.OAuth = &o
			}
		}
		writeJSON(e.stdout, as)
		return 0
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tSERVER\tUSER\tTO\tAFTER\tLAST\tSTATUS")
	for _, a := range as {
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
