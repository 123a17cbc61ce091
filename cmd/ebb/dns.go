package main

import (
	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/dnscheck"
)

// dnsCmd is `ebb dns check`: flags here, the work in internal/dnscheck.
var dnsCmd = &cli.Command{Name: "dns", Summary: "the DNS records the hosted domains need", Sub: []*cli.Command{
	{Name: "check", Args: "[DOMAIN...]", Run: dnsCheck,
		Summary: "every record a domain needs (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, TLSA, SRV, PTR): what is published, whether it matches, the exact record to publish",
		Help:    "Without DOMAIN, every hosted domain. Lookups go to dns.resolver. Exit 1 when a record is missing or wrong, 75 when a lookup failed."},
}}

func dnsCheck(c *cli.Call) int {
	asJSON := jsonFlag(c)
	cfg, code := c.ParseConfig(0, -1)
	if cfg == nil {
		return code
	}
	domains, err := c.Args, error(nil)
	if len(domains) == 0 {
		if domains, err = directory.HostedDomains(c.Ctx, cfg, false, nil); err != nil {
			return c.Fail(err)
		}
	}
	reports, code, err := dnscheck.CheckDomains(c.Ctx, dnscheck.FromConfig(cfg), domains)
	switch {
	case err != nil:
		return c.Usagef("%v", err)
	case *asJSON:
		c.JSON(reports)
	default:
		dnscheck.WriteTexts(c.Stdout, reports)
	}
	return code
}
