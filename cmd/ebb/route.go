package main

import (
	"strings"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/daemon"
	"github.com/ebbmail/ebb/internal/route"
)

// ebb route: internal/daemon (route.go) builds the daemon's policy,
// checks, directory and relay without sockets or a queue, and
// internal/route walks the message through them (and Sieve, the Maildir).
var routeCmd = &cli.Command{Name: "route", Args: "--to ADDR... [MESSAGE-FILE]", JSON: true,
	Summary: "what would happen to a message (replies, checks, Sieve, Maildir folder, MX hosts), without queueing or delivering it",
	Help: `  The SMTP reply at MAIL and each RCPT, the size, the checks and scanners, then for each local recipient
  the mailboxes, the Maildir folder and the Sieve actions, and for a remote one the MX hosts in order with
  their TLS policy and MTA-STS mode. Without MESSAGE-FILE a small message is generated.
  Exit 0: it would be accepted and delivered.`,
	Run: func(c *cli.Call) int {
		o := route.Options{Stdout: c.Stdout, Stderr: c.Stderr}
		c.Flags.StringVar(&o.From, "from", "", "the envelope sender `ADDR` (MAIL FROM); empty is <>")
		c.Flags.Var((*cli.Strings)(&o.To), "to", "a recipient `ADDR` (RCPT TO); repeat for more")
		c.Flags.StringVar(&o.ClientIP, "client-ip", "", "the client's address `IP` (default 192.0.2.1, a client from outside)")
		c.Flags.StringVar(&o.Helo, "helo", "", "the client's HELO `NAME` (default client.example)")
		c.Flags.StringVar(&o.Auth, "auth", "", "with --port 587: the account taken as logged in (`USER`)")
		c.Flags.IntVar(&o.Port, "port", 25, "25 (inbound) or 587 (submission)")
		c.Flags.Lookup("json").Usage = "the steps as JSON"
		// Run, not Do: the whole command line (o.Check) is checked before
		// the config is read, so a wrong one is 64 whatever the config.
		if code, ok := c.Parse(0, 1); !ok {
			return code
		}
		if err := o.Check(); err != nil {
			return c.Usagef("%v", err)
		}
		cfg, code := c.Config()
		if cfg == nil {
			return code
		}
		o.ConfigPath, o.Message, o.JSON = c.ConfigPath, strings.Join(c.Args, ""), c.AsJSON
		return c.End(daemon.Route(c.Ctx, cfg, o))
	}}
