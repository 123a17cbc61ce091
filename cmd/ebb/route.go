package main

import (
	"flag"
	"fmt"

	"github.com/ebbmail/ebb/internal/daemon"
	"github.com/ebbmail/ebb/internal/diag"
)

const routeUsage = `usage: ebb route [-c FILE] [--from ADDR] --to ADDR [--to ADDR...] [--client-ip IP] [--helo NAME]
                 [--auth USER] [--port 25|587] [--json] [MESSAGE-FILE]
  what ebb would do with a message, without queueing or delivering it: the SMTP reply at MAIL and each RCPT,
  the size, the checks and scanners, then for each local recipient the mailboxes, the Maildir folder and the
  Sieve actions, and for a remote one the MX hosts in order with their TLS policy and MTA-STS mode.
  Without MESSAGE-FILE a small message is generated. Exit 0: it would be accepted and delivered.`

// runRoute is `ebb route`: flags only; internal/daemon (route.go) builds
// the daemon's policy, checks, directory, Sieve and relay without sockets
// or a queue, and walks the message through them.
func runRoute(e *env) int {
	fset := flag.NewFlagSet("route", flag.ContinueOnError)
	fset.SetOutput(e.stderr)
	cfgPath := fset.String("c", "", "config file")
	from := fset.String("from", "", "the envelope sender (MAIL FROM); empty is <>")
	var to multiFlag
	fset.Var(&to, "to", "a recipient (RCPT TO); repeat for more")
	ip := fset.String("client-ip", "", "the client's address (default 192.0.2.1, a client from outside)")
	helo := fset.String("helo", "", "the client's HELO name (default client.example)")
	auth := fset.String("auth", "", "with --port 587: the account taken as logged in")
	port := fset.Int("port", 25, "25 (inbound) or 587 (submission)")
	asJSON := fset.Bool("json", false, "the steps as JSON")
	fset.Usage = func() { fmt.Fprintln(e.stderr, routeUsage) }
	args, err := parseInterleaved(fset, e.args)
	if err != nil {
		return diag.ExUsage
	}
	if len(to) == 0 || len(args) > 1 || (*port != 25 && *port != 587) || (*auth != "" && *port != 587) {
		fmt.Fprintln(e.stderr, routeUsage)
		return diag.ExUsage
	}
	msg := ""
	if len(args) == 1 {
		msg = args[0]
	}
	return daemon.Route(e.ctx, daemon.RouteOptions{ConfigPath: *cfgPath, From: *from, To: to, ClientIP: *ip, Helo: *helo,
		Auth: *auth, Port: *port, JSON: *asJSON, Message: msg, Stdout: e.stdout, Stderr: e.stderr})
}
