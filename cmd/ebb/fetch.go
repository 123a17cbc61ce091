package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/cluster"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/daemon"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetch"
	"github.com/ebbmail/ebb/internal/fetchstate"
	"github.com/ebbmail/ebb/internal/mailuser"
)

// The subcommands of ebb fetch (fetchcmd.go): flags, then internal/fetch.

func fetchAdd(c *cli.Call) int {
	var o fetch.AccountOptions
	fs := c.Flags
	fs.StringVar(&o.Server, "server", "", "the remote server, `HOST[:PORT]` (an --oauth2 preset fills it when empty)")
	fs.StringVar(&o.Protocol, "protocol", "imap", "imap or pop3")
	fs.StringVar(&o.TLS, "tls", "implicit", "implicit (993/995), starttls (143/110), or none (needs --allow-plaintext)")
	fs.BoolVar(&o.AllowPlaintext, "allow-plaintext", false, "allow --tls none: the password crosses the network in the clear")
	fs.StringVar(&o.CAFile, "ca-file", "", "PEM CA certificate(s) to verify the server with (a private CA or a self-signed server)")
	fs.BoolVar(&o.SkipVerify, "insecure-skip-verify", false, "do not verify the server's certificate (never for a server on the internet)")
	fs.StringVar(&o.User, "user", "", "the remote login")
	fs.StringVar(&o.To, "to", "", "the local `MAILBOX` it delivers to")
	fs.StringVar(&o.Folders, "folder", "INBOX", "IMAP folders to fetch, comma-separated")
	fs.StringVar(&o.After, "after", "keep", "after delivery: keep, delete, or move (IMAP; with --move-to); a message not delivered here always stays")
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
	if code, ok := c.Parse(1, 1); !ok {
		return code
	}
	o.Name = c.Args[0]
	a, err := fetch.NewAccount(o)
	if err != nil {
		return c.Usagef("%v", err)
	}
	if a.CAFile != "" {
		if _, err := os.Stat(a.CAFile); err != nil {
			return c.Fail(diag.PathError(c.Name, "stat", "read the CA file", a.CAFile, err, nil))
		}
	}
	if a.Auth == "password" {
		pw, err := c.ReadPassword("password of "+a.Username+" at "+a.Host+": ", false)
		if err != nil {
			return c.Fail(err)
		}
		a.Password = pw
	}
	return openDirectory(c, directory.Options{}, func(d *directory.Directory, _ *config.Config) error {
		if err := fetchstate.New(d).AddFetchAccount(c.Ctx, a); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "fetch account %s added: %s %s:%d (%s) as %s → %s\n", a.Name, a.Protocol, a.Host, a.Port, a.TLS, a.Username, a.Mailbox)
		if a.Auth == "oauth2" {
			fmt.Fprintf(c.Stdout, "next: ebb fetch auth %s (grants ebb access once; the refresh token is stored)\n", a.Name)
		} else {
			fmt.Fprintf(c.Stdout, "next: ebb fetch test %s (logs in, fetches nothing); a running ebb serve starts it within 30 s, or at once on: systemctl reload ebb\n", a.Name)
		}
		return nil
	})
}

func fetchList(c *cli.Call) int {
	asJSON := jsonFlag(c)
	return withDirectory(c, 0, 0, directory.Options{ReadOnly: true}, func(d *directory.Directory, cfg *config.Config) error {
		ls, err := fetch.List(c.Ctx, fetchstate.New(d))
		if err != nil {
			return err
		}
		// Several hosts: which one fetches each account.
		owners, err := cluster.FetchOwners(c.Ctx, cfg, d)
		if err != nil {
			return err
		}
		if owners != nil {
			fetch.SetOwners(ls, func(a string) (fetch.Owner, bool) {
				o, ok := owners[a]
				return fetch.Owner{Host: o.Host, Since: o.Since, Ended: o.Ended}, ok
			})
		}
		fetch.WriteList(c.Stdout, ls, *asJSON)
		return nil
	})
}

// fetchDone is a subcommand that changes one account: it says so.
func fetchDone(c *cli.Call, opt directory.Options, change func(d *directory.Directory, name string) error) int {
	return withDirectory(c, 1, 1, opt, func(d *directory.Directory, _ *config.Config) error {
		if err := change(d, c.Args[0]); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "fetch account %s: %s done\n", c.Args[0], c.Cmd.Name)
		return nil
	})
}

func fetchRemove(c *cli.Call) int {
	return fetchDone(c, directory.Options{}, func(d *directory.Directory, name string) error {
		return fetchstate.New(d).RemoveFetchAccount(c.Ctx, name)
	})
}

func fetchReset(c *cli.Call) int {
	return fetchDone(c, directory.Options{}, func(d *directory.Directory, name string) error {
		if _, err := fetchstate.New(d).FetchAccount(c.Ctx, name); err != nil {
			return err
		}
		return fetchstate.New(d).ResetFetchFolders(c.Ctx, name)
	})
}

func fetchEnable(on bool) func(c *cli.Call) int {
	return func(c *cli.Call) int {
		return fetchDone(c, directory.Options{}, func(d *directory.Directory, name string) error {
			return fetchstate.New(d).SetFetchEnabled(c.Ctx, name, on)
		})
	}
}

func fetchPasswd(c *cli.Call) int {
	if code, ok := c.Parse(1, 1); !ok {
		return code
	}
	pw, err := c.ReadPassword("password of the remote account: ", false)
	if err != nil {
		return c.Fail(err)
	}
	return openDirectory(c, directory.Options{}, func(d *directory.Directory, _ *config.Config) error {
		if err := fetchstate.New(d).SetFetchPassword(c.Ctx, c.Args[0], pw); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "fetch account %s: passwd done\n", c.Args[0])
		return nil
	})
}

// fetchTest logs in as a pass would. Run as root, it reads the CA file as
// the daemon's user would (server.user): root reads what the daemon may
// not.
func fetchTest(c *cli.Call) int {
	return withDirectory(c, 1, 1, directory.Options{ReadOnly: true}, func(d *directory.Directory, cfg *config.Config) error {
		a, err := fetchstate.New(d).FetchAccount(c.Ctx, c.Args[0])
		if err != nil {
			return err
		}
		f := &fetch.Fetcher{Cfg: cfg.Fetch, Store: fetchstate.New(d), MaxMessageSize: int64(cfg.SMTP.MaxMessageSize), Setting: cfg.Setting}
		if os.Geteuid() == 0 {
			if u, err := mailuser.Lookup(cfg); err == nil && u.UID != 0 {
				f.ReadAs = u.Identity()
			}
		}
		return f.Test(c.Ctx, a, c.Stdout)
	})
}

func fetchRun(c *cli.Call) int {
	if code, ok := c.Parse(0, -1); !ok {
		return code
	}
	tty := false
	if f, ok := c.Stdout.(*os.File); ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		tty = err == nil
	}
	return daemon.FetchRun(c.Ctx, daemon.FetchRunOptions{ConfigPath: c.ConfigPath, Accounts: c.Args,
		Progress: func() fetch.Progress { return fetch.NewBar(c.Stdout, tty) }, Stdout: c.Stdout, Stderr: c.Stderr})
}

func fetchAuth(c *cli.Call) int {
	loopback := c.Flags.Bool("loopback", false, "use the authorization code flow with a browser on this machine instead of the device code")
	timeout := c.Flags.Duration("timeout", 15*time.Minute, "how long to wait for the user's consent")
	return withDirectory(c, 1, 1, directory.Options{}, func(d *directory.Directory, _ *config.Config) error {
		a, err := fetchstate.New(d).FetchAccount(c.Ctx, c.Args[0])
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.Ctx, *timeout)
		defer cancel()
		o, err := fetch.Authorize(ctx, a, *loopback, c.Stdout, nil)
		if err != nil {
			return cli.Errorf(diag.ExTempFail, "%s: %v", a.Name, err)
		}
		if err := fetchstate.New(d).SetFetchOAuth(c.Ctx, a.Name, o); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "fetch account %s: access granted; the refresh token is stored (ebb serve uses it from its next reload)\n", a.Name)
		return nil
	})
}

// fetchRetry asks for skipped messages again; the next pass fetches them
// as new ones.
func fetchRetry(c *cli.Call) int {
	return withDirectory(c, 1, -1, directory.Options{}, func(d *directory.Directory, _ *config.Config) error {
		name := c.Args[0]
		if _, err := fetchstate.New(d).FetchAccount(c.Ctx, name); err != nil {
			return err
		}
		n, err := fetchstate.New(d).RetryFetched(c.Ctx, name, c.Args[1:])
		if err != nil {
			return err
		}
		if n == 0 {
			return cli.Errorf(diag.ExNoInput, "account %s has no skipped message %s (ebb fetch list shows them)", name, strings.Join(c.Args[1:], " "))
		}
		fmt.Fprintf(c.Stdout, "fetch account %s: %d skipped messages are fetched again at the next pass\n", name, n)
		return nil
	})
}

// fetchSet changes what the account connects to and what it does after
// delivery; what it fetched stays recorded (a server moved to another
// name, a CA file, a folder).
func fetchSet(c *cli.Call) int {
	var ch fetch.Changes
	fs := c.Flags
	str := func(name, usage string, dst **string) {
		fs.Func(name, usage, func(v string) error { *dst = &v; return nil })
	}
	str("server", "the remote server, `HOST[:PORT]`", &ch.Server)
	str("tls", "`MODE`: implicit, starttls, or none (with --allow-plaintext); the port follows unless --server gives one", &ch.TLS)
	fs.BoolVar(&ch.AllowPlaintext, "allow-plaintext", false, "allow --tls none")
	str("ca-file", "`FILE` of PEM CA certificate(s) to verify the server with (\"\": the system's roots)", &ch.CAFile)
	fs.BoolFunc("insecure-skip-verify", "do not verify the server's certificate (never for a server on the internet)", func(v string) error {
		b := v == "true"
		ch.SkipVerify = &b
		return nil
	})
	str("folder", "IMAP `FOLDERS` to fetch, comma-separated", &ch.Folders)
	str("after", "after delivery (`MODE`): keep, delete, or move (with --move-to)", &ch.After)
	str("move-to", "the server `FOLDER` for --after move", &ch.MoveTo)
	fs.Func("interval", "how often to poll, a `DURATION` (0: fetch.interval)", func(v string) error {
		d, err := time.ParseDuration(v)
		ch.Interval = &d
		return err
	})
	if code, ok := c.Parse(1, 1); !ok {
		return code
	}
	if ch.CAFile != nil && *ch.CAFile != "" {
		if _, err := os.Stat(*ch.CAFile); err != nil {
			return c.Fail(diag.PathError(c.Name, "stat", "read the CA file", *ch.CAFile, err, nil))
		}
	}
	return openDirectory(c, directory.Options{}, func(d *directory.Directory, _ *config.Config) error {
		a, err := fetchstate.New(d).FetchAccount(c.Ctx, c.Args[0])
		if err != nil {
			return err
		}
		n, err := fetch.Change(*a, ch)
		if err != nil {
			return cli.Errorf(diag.ExUsage, "%v", err)
		}
		if err := fetchstate.New(d).UpdateFetchAccount(c.Ctx, n); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "fetch account %s: %s %s:%d (%s), folders %s, after %s; ebb serve uses it from its next reload of the accounts (30 s)\n",
			n.Name, n.Protocol, n.Host, n.Port, n.TLS, strings.Join(n.Folders, ","), n.After)
		return nil
	})
}
