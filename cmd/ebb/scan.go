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
		msg := &scan.Message{}
		c.Flags.StringVar(&msg.From, "from", "", "the envelope sender `ADDR` to give the scanners")
		c.Flags.Var((*cli.Strings)(&msg.Rcpts), "to", "an envelope recipient `ADDR` (repeatable)")
		c.Flags.StringVar(&msg.IP, "ip", "", "the client address `IP` to give the scanners")
		c.Flags.StringVar(&msg.Helo, "helo", "", "the client's HELO `NAME`")
		c.Flags.StringVar(&msg.User, "auth", "", "scan as an authenticated submission by this `LOGIN` (scan.submission decides)")
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
		if len(msg.Rcpts) == 0 {
			// Milters expect at least one RCPT before the header (a
			// transaction without one is not SMTP).
			msg.Rcpts = []string{"postmaster@" + host}
		}
		o := scan.OptionsFromConfig(cfg, nil, slog.New(slog.DiscardHandler))
		o.BreakerFailures = 0
		msg.Path = path
		rep := scan.New(entries, o).Scan(c.Ctx, msg, scan.SelectFor(cfg, msg.User != ""))
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
