package main

import (
	"fmt"
	"time"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/cluster"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/daemon"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetch"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// fetchCmd is ebb fetch: the flags here, the work in internal/fetch.
var fetchCmd = &cli.Command{Name: "fetch", Summary: "fetch remote IMAP and POP3 accounts into local mailboxes, exactly once (docs/fetch.md)", Sub: []*cli.Command{
	{Name: "add", Args: "NAME", Summary: "add an account (password at the prompt or on stdin, or --oauth2)", Do: fetchAdd},
	{Name: "list", JSON: true, Summary: "the accounts with their last status, and every message left on a server", Do: fetchList},
	{Name: "remove", Args: "NAME", Summary: "remove an account", Do: fetchRemove},
	{Name: "test", Args: "NAME", Summary: "log in and list the server's folders, fetching nothing", Do: fetchTest},
	{Name: "run", Args: "[NAME...]", Summary: "one pass in the foreground, with a progress bar (all accounts without NAME; not while ebb serve runs)", Run: fetchRun},
	{Name: "auth", Args: "NAME", Summary: "grant an OAuth2 account access once (device code, or --loopback)", Do: fetchAuth},
	{Name: "passwd", Args: "NAME", Summary: "change an account's password (at the prompt or on stdin)", Do: fetchPasswd},
	{Name: "reset", Args: "NAME", Summary: "go through the folders again after a UIDVALIDITY change, skipping what was taken before", Do: fetchReset},
	{Name: "enable", Args: "NAME", Summary: "fetch the account again", Do: fetchEnable(true)},
	{Name: "disable", Args: "NAME", Summary: "stop fetching the account, keeping its state", Do: fetchEnable(false)},
	{Name: "set", Args: "NAME", Summary: "change an account's server, TLS, CA file, folders or after-action, keeping what it fetched", Do: fetchSet},
	{Name: "retry", Args: "NAME [UID...]", Summary: "fetch skipped messages again (all of the account's without UID) once their cause is fixed", Do: fetchRetry},
}}

func fetchAdd(c *cli.Call) cli.Action {
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
	return func(cfg *config.Config) error {
		o.Name = c.Args[0]
		a, err := fetch.NewAccount(o)
		if err != nil {
			return c.Usage("%v", err)
		}
		if err := fetch.CheckCAFile(a.CAFile); err != nil {
			return err
		}
		if a.Auth == "password" {
			if a.Password, err = c.ReadPassword("password of "+a.Username+" at "+a.Host+": ", false); err != nil {
				return err
			}
		}
		return openDirectory(c, cfg, directory.Options{}, func(d *directory.Directory, _ *config.Config) error {
			return fetch.Add(c.Ctx, fetchstate.New(d), a, c.Stdout)
		})
	}
}

func fetchList(c *cli.Call) cli.Action {
	return withDirectory(c, directory.Options{ReadOnly: true}, func(d *directory.Directory, cfg *config.Config) error {
		// Several hosts: which one fetches each account. Leases that
		// cannot be read: the accounts with their owners unknown, and
		// the error (stderr, exit code) says the answer is partial.
		ls, err := cluster.FetchList(c.Ctx, cfg, d)
		if ls != nil {
			fetch.WriteList(c.Stdout, ls, c.AsJSON)
		}
		return err
	})
}

// fetchDone is a subcommand that changes one account: it says so.
func fetchDone(c *cli.Call, change func(d *directory.Directory, name string) error) cli.Action {
	return withDirectory(c, directory.Options{}, func(d *directory.Directory, _ *config.Config) error {
		if err := change(d, c.Args[0]); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "fetch account %s: %s done\n", c.Args[0], c.Cmd.Name)
		return nil
	})
}

func fetchRemove(c *cli.Call) cli.Action {
	return fetchDone(c, func(d *directory.Directory, name string) error {
		return fetchstate.New(d).RemoveFetchAccount(c.Ctx, name)
	})
}

func fetchReset(c *cli.Call) cli.Action {
	return fetchDone(c, func(d *directory.Directory, name string) error {
		return fetch.Reset(c.Ctx, fetchstate.New(d), name)
	})
}

func fetchEnable(on bool) func(c *cli.Call) cli.Action {
	return func(c *cli.Call) cli.Action {
		return fetchDone(c, func(d *directory.Directory, name string) error {
			return fetchstate.New(d).SetFetchEnabled(c.Ctx, name, on)
		})
	}
}

func fetchPasswd(c *cli.Call) cli.Action {
	return func(cfg *config.Config) error {
		pw, err := c.ReadPassword("password of the remote account: ", false)
		if err != nil {
			return err
		}
		return fetchDone(c, func(d *directory.Directory, name string) error {
			return fetchstate.New(d).SetFetchPassword(c.Ctx, name, pw)
		})(cfg)
	}
}

func fetchTest(c *cli.Call) cli.Action {
	return withDirectory(c, directory.Options{ReadOnly: true}, func(d *directory.Directory, cfg *config.Config) error {
		return fetch.TryAccount(c.Ctx, cfg, fetchstate.New(d), c.Args[0], c.Stdout)
	})
}

func fetchRun(c *cli.Call) int {
	if code, ok := c.Parse(0, -1); !ok {
		return code
	}
	return daemon.FetchRun(c.Ctx, daemon.FetchRunOptions{ConfigPath: c.ConfigPath, Accounts: c.Args,
		Progress: func() fetch.Progress { return fetch.NewBar(c.Stdout) }, Stdout: c.Stdout, Stderr: c.Stderr})
}

func fetchAuth(c *cli.Call) cli.Action {
	loopback := c.Flags.Bool("loopback", false, "use the authorization code flow with a browser on this machine instead of the device code")
	timeout := c.Flags.Duration("timeout", 15*time.Minute, "how long to wait for the user's consent")
	return withDirectory(c, directory.Options{}, func(d *directory.Directory, _ *config.Config) error {
		return fetch.AuthorizeStored(c.Ctx, fetchstate.New(d), c.Args[0], *loopback, *timeout, c.Stdout)
	})
}

func fetchRetry(c *cli.Call) cli.Action {
	return withDirectory(c, directory.Options{}, func(d *directory.Directory, _ *config.Config) error {
		return fetch.Retry(c.Ctx, fetchstate.New(d), c.Args[0], c.Args[1:], c.Stdout)
	})
}

func fetchSet(c *cli.Call) cli.Action {
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
	return func(cfg *config.Config) error {
		if ch.CAFile != nil {
			if err := fetch.CheckCAFile(*ch.CAFile); err != nil {
				return err
			}
		}
		return openDirectory(c, cfg, directory.Options{}, func(d *directory.Directory, _ *config.Config) error {
			return fetch.Set(c.Ctx, fetchstate.New(d), c.Args[0], ch, c.Stdout)
		})
	}
}
