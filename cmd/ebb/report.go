package main

import (
	"io"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/reports"
)

// The aggregate reports (internal/reports): ebb report (what ebb sends),
// ebb dmarc report and ebb tlsrpt report (what others sent about a hosted
// domain). Flags here, the work in internal/reports.
var reportCmd = &cli.Command{Name: "report", Summary: "the TLS and DMARC aggregate reports ebb sends", Sub: []*cli.Command{
	{Name: "status", JSON: true, Do: reportStatus,
		Summary: "the reports sent, skipped or failed in the last days, those waiting, and what is recorded today"},
	{Name: "send", Do: reportSend,
		Summary: "send the reports that are due now, or those of one day (--day), instead of waiting for ebb serve's schedule",
		Help:    "  The messages go through the pickup directory (ebb serve queues them; the relay signs them with the DKIM key of reports.from's domain).\n  Exit 0 when every report was sent or skipped, 75 when one is to be retried, 1 when one failed."},
}}

var dmarcCmd = &cli.Command{Name: "dmarc", Summary: "DMARC aggregate reports received about the hosted domains", Sub: []*cli.Command{
	{Name: "report", Args: "DOMAIN", JSON: true, Do: receivedReport(reports.KindDMARC),
		Summary: "who sends mail as DOMAIN, from where, passing or failing DMARC, as the reports received say"},
}}

var tlsrptCmd = &cli.Command{Name: "tlsrpt", Summary: "TLS reports (RFC 8460) received about the hosted domains", Sub: []*cli.Command{
	{Name: "report", Args: "DOMAIN", JSON: true, Do: receivedReport(reports.KindTLS),
		Summary: "how other senders' TLS sessions with DOMAIN's MX hosts went, as the reports received say"},
}}

func reportStatus(c *cli.Call) cli.Action {
	days := c.Flags.Int("days", 7, "the reports of the last `N` days")
	return func(cfg *config.Config) error {
		s, err := reports.StatusFromCommand(c.Ctx, cfg, time.Now(), *days)
		if err == nil {
			c.Print(s, func(w io.Writer) { reports.WriteStatus(w, cfg, s) })
		}
		return err
	}
}

func reportSend(c *cli.Call) cli.Action {
	c.Flags.Bool("now", true, "send what is due now (the default; for scripts and tests)")
	day := c.Flags.String("day", "", "send the reports of this UTC `DAY` (2006-01-02 or today), even when it is not over")
	again := c.Flags.Bool("again", false, "with --day: send reports that were sent already")
	return func(cfg *config.Config) error {
		sent, err := reports.SendFromCommand(c.Ctx, cfg, *day, *again, nil)
		if err != nil {
			return err
		}
		reports.WriteSent(c.Stdout, sent)
		return cli.Exit(reports.SentExitCode(sent))
	}
}

// receivedReport is ebb dmarc report and ebb tlsrpt report.
func receivedReport(kind string) func(c *cli.Call) cli.Action {
	return func(c *cli.Call) cli.Action {
		days := c.Flags.Int("days", 30, "the reports of the last `N` days")
		return func(cfg *config.Config) error {
			domain, err := directory.NormalizeDomain(strings.TrimSpace(c.Args[0]))
			if err != nil {
				return c.Usage("%s: %v", c.Args[0], err)
			}
			s, err := reports.ReceivedFromCommand(c.Ctx, cfg, kind, domain, *days, time.Now())
			if err == nil {
				c.Print(s, s.WriteText)
			}
			return err
		}
	}
}
