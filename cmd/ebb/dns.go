package main

import (
	"io"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/dnscheck"
)

// dnsCmd is `ebb dns check`: flags here, the work in internal/dnscheck.
var dnsCmd = &cli.Command{Name: "dns", Summary: "the DNS records the hosted domains need", Sub: []*cli.Command{
	{Name: "check", Args: "[DOMAIN...]", JSON: true, Do: dnsCheck,
		Summary: "every record a domain needs (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, TLSA, SRV, PTR): what is published, whether it matches, the exact record to publish",
		Help:    "Without DOMAIN, every hosted domain. Lookups go to dns.resolver. Exit 1 when a record is missing or wrong, 75 when a lookup failed."},
}}

func dnsCheck(c *cli.Call) cli.Action {
	return func(cfg *config.Config) error {
		domains, err := c.Args, error(nil)
		if len(domains) == 0 {
			if domains, err = directory.HostedDomains(c.Ctx, cfg, false, nil); err != nil {
				return err
			}
		}
		reports, code, err := dnscheck.CheckDomains(c.Ctx, dnscheck.FromConfig(cfg), domains)
		if err != nil {
			return c.Usage("%v", err)
		}
		c.Print(reports, func(w io.Writer) { dnscheck.WriteTexts(w, reports) })
		return cli.Exit(code)
	}
}
