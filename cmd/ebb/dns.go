package main

import (
	"context"
	"time"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/diag"
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
	asJSON := c.Flags.Bool("json", false, "print JSON")
	if code, ok := c.Parse(0, -1); !ok {
		return code
	}
	cfg, code := c.Config()
	if cfg == nil {
		return code
	}
	domains := c.Args
	if len(domains) == 0 {
		ctx, cancel := context.WithTimeout(c.Ctx, 10*time.Second)
		d, err := directory.OpenWith(ctx, cfg, directory.Options{NoMigrate: true, ReadOnly: true})
		if err != nil {
			cancel()
			return c.Fail(err)
		}
		ds, err := d.Domains(ctx)
		d.Close()
		cancel()
		if err != nil {
			return c.Fail(err)
		}
		for _, x := range ds {
			if x.AliasOf == "" {
				domains = append(domains, x.Name)
			}
		}
	}
	o := dnscheck.FromConfig(cfg)
	var reports []dnscheck.Report
	worst := 0
	for _, dom := range domains {
		n, err := directory.NormalizeDomain(dom)
		if err != nil {
			return c.Usagef("%s: %v", dom, err)
		}
		r := dnscheck.Report{Domain: n, Records: dnscheck.Check(c.Ctx, o, n)}
		reports = append(reports, r)
		if r.NeedsWork() {
			worst = max(worst, 1)
		}
		for _, x := range r.Records {
			if x.Status == dnscheck.Error {
				worst = diag.ExTempFail
			}
		}
	}
	if *asJSON {
		if reports == nil {
			reports = []dnscheck.Report{}
		}
		c.JSON(reports)
		return worst
	}
	for i, r := range reports {
		if i > 0 {
			c.Stdout.Write([]byte("\n"))
		}
		dnscheck.WriteText(c.Stdout, r)
	}
	return worst
}
