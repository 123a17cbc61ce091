package main

import (
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/scan"
)

// ebb scan MESSAGE: the message through the configured scanners, and what
// the policy would answer over SMTP. Exit 0 when it would be accepted, 1
// when refused or deferred.
var scanCmd = &cli.Command{Name: "scan", Args: "MESSAGE",
	Summary: "the configured scanners' verdicts, scores and symbols, and the SMTP answer the policy would give",
	Run: func(c *cli.Call) int {
		from := c.Flags.String("from", "", "the envelope sender `ADDR` to give the scanners")
		var to cli.Strings
		c.Flags.Var(&to, "to", "an envelope recipient `ADDR` (repeatable)")
		ip := c.Flags.String("ip", "", "the client address `IP` to give the scanners")
		helo := c.Flags.String("helo", "", "the client's HELO `NAME`")
		auth := c.Flags.String("auth", "", "scan as an authenticated submission by this `LOGIN` (scan.submission decides)")
		asJSON := c.Flags.Bool("json", false, "print the report as JSON")
		report := c.Flags.Bool("report", false, "also print spamd's REPORT: every rule that hit, with its points and description")
		cfg, code := c.ParseConfig(1, 1)
		if cfg == nil {
			return code
		}
		path, _ := filepath.Abs(c.Args[0])
		if _, err := os.Stat(path); err != nil {
			d := diag.PathError("", "open", "read the message", path, err, nil)
			d.Exit = diag.ExNoInput
			return c.Fail(d)
		}
		host := cfg.Server.Hostname
		if host == "" {
			host, _ = os.Hostname()
		}
		entries, err := scan.FromConfig(cfg, host)
		if err != nil {
			return c.Fail(cli.Errorf(diag.ExConfig, "%v", err))
		}
		if len(entries) == 0 {
			return c.Fail(cli.Errorf(diag.ExConfig, "no scanner is configured (scan.clamd.address, scan.spamd.address, scan.rspamd.address, scan.milter.addresses)"))
		}
		if len(to) == 0 {
			// Milters expect at least one RCPT before the header (a
			// transaction without one is not SMTP).
			to = cli.Strings{"postmaster@" + host}
		}
		o := scan.OptionsFromConfig(cfg, nil, slog.New(slog.DiscardHandler))
		o.BreakerFailures = 0
		msg := &scan.Message{Path: path, From: *from, Rcpts: to, IP: *ip, Helo: *helo, User: *auth}
		rep := scan.New(entries, o).Scan(c.Ctx, msg, scan.SelectFor(cfg, *auth != ""))
		if *asJSON {
			rep.WriteJSON(c.Stdout)
		} else {
			rep.WriteText(c.Stdout)
			if *report {
				scan.WriteSpamdReports(c.Ctx, c.Stdout, entries, msg)
			}
		}
		if rep.Verdict.Refused() {
			return 1
		}
		return 0
	}}
