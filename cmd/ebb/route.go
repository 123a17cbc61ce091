package main

import (
	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/daemon"
)

// ebb route: internal/daemon (route.go) builds the daemon's policy,
// checks, directory, Sieve and relay without sockets or a queue, and walks
// the message through them.
var routeCmd = &cli.Command{Name: "route", Args: "--to ADDR... [MESSAGE-FILE]",
	Summary: "what would happen to a message (replies, checks, Sieve, Maildir folder, MX hosts), without queueing or delivering it",
	Help: `  The SMTP reply at MAIL and each RCPT, the size, the checks and scanners, then for each local recipient
  the mailboxes, the Maildir folder and the Sieve actions, and for a remote one the MX hosts in order with
  their TLS policy and MTA-STS mode. Without MESSAGE-FILE a small message is generated.
  Exit 0: it would be accepted and delivered.`,
	Run: func(c *cli.Call) int {
		from := c.Flags.String("from", "", "the envelope sender `ADDR` (MAIL FROM); empty is <>")
		var to cli.Strings
		c.Flags.Var(&to, "to", "a recipient `ADDR` (RCPT TO); repeat for more")
		ip := c.Flags.String("client-ip", "", "the client's address `IP` (default 192.0.2.1, a client from outside)")
		helo := c.Flags.String("helo", "", "the client's HELO `NAME` (default client.example)")
		auth := c.Flags.String("auth", "", "with --port 587: the account taken as logged in (`USER`)")
		port := c.Flags.Int("port", 25, "25 (inbound) or 587 (submission)")
		asJSON := c.Flags.Bool("json", false, "the steps as JSON")
		if code, ok := c.Parse(0, 1); !ok {
			return code
		}
		if len(to) == 0 {
			return c.Usagef("give at least one --to")
		}
		if (*port != 25 && *port != 587) || (*auth != "" && *port != 587) {
			return c.Usagef("--port is 25 or 587, and --auth goes with --port 587")
		}
		msg := ""
		if len(c.Args) == 1 {
			msg = c.Args[0]
		}
		return daemon.Route(c.Ctx, daemon.RouteOptions{ConfigPath: c.ConfigPath, From: *from, To: to, ClientIP: *ip, Helo: *helo,
			Auth: *auth, Port: *port, JSON: *asJSON, Message: msg, Stdout: c.Stdout, Stderr: c.Stderr})
	}}
