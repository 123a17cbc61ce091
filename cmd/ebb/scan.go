package main

import (
	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/scan"
)

// ebb scan MESSAGE: the message through the configured scanners, and what
// the policy would answer over SMTP (scan.ScanFile). Exit 0 when it would
// be accepted, 1 when refused or deferred.
var scanCmd = &cli.Command{Name: "scan", Args: "MESSAGE",
	Summary: "the configured scanners' verdicts, scores and symbols, and the SMTP answer the policy would give",
	Do: func(c *cli.Call) cli.Action {
		msg := &scan.Message{}
		c.Flags.StringVar(&msg.From, "from", "", "the envelope sender `ADDR` to give the scanners")
		c.Flags.Var((*cli.Strings)(&msg.Rcpts), "to", "an envelope recipient `ADDR` (repeatable)")
		c.Flags.StringVar(&msg.IP, "ip", "", "the client address `IP` to give the scanners")
		c.Flags.StringVar(&msg.Helo, "helo", "", "the client's HELO `NAME`")
		c.Flags.StringVar(&msg.User, "auth", "", "scan as an authenticated submission by this `LOGIN` (scan.submission decides)")
		asJSON := c.Flags.Bool("json", false, "print the report as JSON")
		report := c.Flags.Bool("report", false, "also print spamd's REPORT: every rule that hit, with its points and description")
		return func(cfg *config.Config) error {
			rep, entries, err := scan.ScanFile(c.Ctx, cfg, msg, c.Args[0])
			switch {
			case err != nil:
				return err
			case *asJSON:
				rep.WriteJSON(c.Stdout)
			default:
				rep.WriteText(c.Stdout)
				if *report {
					scan.WriteSpamdReports(c.Ctx, c.Stdout, entries, msg)
				}
			}
			if rep.Verdict.Refused() {
				return cli.Exit(1)
			}
			return nil
		}
	}}
