package main

import (
	"io"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/reports"
)

// The aggregate reports (internal/reports): ebb report (what ebb sends),
// ebb dmarc report and ebb tlsrpt report (what others sent about a hosted
// domain). Flags here, the work in internal/reports.
var reportCmd = &cli.Command{Name: "report", Summary: "the TLS and DMARC aggregate reports ebb sends", Sub: []*cli.Command{
	{Name: "status", Run: reportStatus,
		Summary: "the reports sent, skipped or failed in the last days, those waiting, and what is recorded today"},
	{Name: "send", Run: reportSend,
		Summary: "send the reports that are due now, or those of one day (--day), instead of waiting for ebb serve's schedule",
		Help:    "  The messages go through the pickup directory (ebb serve queues them; the relay signs them with the DKIM key of reports.from's domain).\n  Exit 0 when every report was sent or skipped, 75 when one is to be retried, 1 when one failed."},
}}

var dmarcCmd = &cli.Command{Name: "dmarc", Summary: "DMARC aggregate reports received about the hosted domains", Sub: []*cli.Command{
	{Name: "report", Args: "DOMAIN", Run: dmarcReport,
		Summary: "who sends mail as DOMAIN, from where, passing or failing DMARC, as the reports received say"},
}}

var tlsrptCmd = &cli.Command{Name: "tlsrpt", Summary: "TLS reports (RFC 8460) received about the hosted domains", Sub: []*cli.Command{
	{Name: "report", Args: "DOMAIN", Run: tlsrptReport,
		Summary: "how other senders' TLS sessions with DOMAIN's MX hosts went, as the reports received say"},
}}

func reportStatus(c *cli.Call) int {
	days := c.Flags.Int("days", 7, "the reports of the last `N` days")
	asJSON := c.Flags.Bool("json", false, "print JSON")
	cfg, code := c.ParseConfig(0, 0)
	if cfg == nil {
		return code
	}
	st, err := reports.OpenForCommand(c.Ctx, cfg, false)
	if err != nil {
		return c.Fail(err)
	}
	defer st.Close()
	s, err := reports.GetStatus(c.Ctx, cfg, st, time.Now(), *days)
	if err != nil {
		return c.Fail(err)
	}
	if *asJSON {
		c.JSON(s)
		return 0
	}
	reports.WriteStatus(c.Stdout, cfg, s)
	return 0
}

func reportSend(c *cli.Call) int {
	c.Flags.Bool("now", true, "send what is due now (the default; for scripts and tests)")
	day := c.Flags.String("day", "", "send the reports of this UTC `DAY` (2006-01-02 or today), even when it is not over")
	again := c.Flags.Bool("again", false, "with --day: send reports that were sent already")
	cfg, code := c.ParseConfig(0, 0)
	if cfg == nil {
		return code
	}
	if *day == "today" {
		*day = reports.DayOf(time.Now())
	}
	sent, err := reports.SendFromCommand(c.Ctx, cfg, *day, *again, nil)
	if err != nil {
		return c.Fail(err)
	}
	reports.WriteSent(c.Stdout, sent)
	worst := 0
	for _, x := range sent {
		switch x.State {
		case reports.StateFailed:
			worst = max(worst, 1)
		case reports.StateRetry:
			worst = 75
		}
	}
	return worst
}

// received is what ebb dmarc report and ebb tlsrpt report share.
func received(c *cli.Call, kind string) ([]reports.Received, string, time.Time, bool, int) {
	days := c.Flags.Int("days", 30, "the reports of the last `N` days")
	asJSON := c.Flags.Bool("json", false, "print JSON")
	cfg, code := c.ParseConfig(1, 1)
	if cfg == nil {
		return nil, "", time.Time{}, false, code
	}
	domain, err := directory.NormalizeDomain(strings.TrimSpace(c.Args[0]))
	if err != nil {
		return nil, "", time.Time{}, false, c.Usagef("%s: %v", c.Args[0], err)
	}
	st, err := reports.OpenForCommand(c.Ctx, cfg, false)
	if err != nil {
		return nil, "", time.Time{}, false, c.Fail(err)
	}
	defer st.Close()
	since := time.Now().Add(-time.Duration(*days) * 24 * time.Hour)
	rs, err := reports.ReceivedSummary(c.Ctx, st, kind, domain, since)
	if err != nil {
		return nil, "", time.Time{}, false, c.Fail(err)
	}
	return rs, domain, since, *asJSON, -1
}

func dmarcReport(c *cli.Call) int {
	return summaryReport(c, reports.KindDMARC, reports.SummariseDMARC, reports.WriteDMARC)
}

func tlsrptReport(c *cli.Call) int {
	return summaryReport(c, reports.KindTLS, reports.SummariseTLS, reports.WriteTLS)
}

// summaryReport prints the summary of the received reports of kind, as
// JSON with --json.
func summaryReport[S any](c *cli.Call, kind string, summarise func(string, time.Time, []reports.Received) S, write func(io.Writer, S)) int {
	rs, domain, since, asJSON, code := received(c, kind)
	if code >= 0 {
		return code
	}
	s := summarise(domain, since, rs)
	if asJSON {
		c.JSON(s)
		return 0
	}
	write(c.Stdout, s)
	return 0
}
