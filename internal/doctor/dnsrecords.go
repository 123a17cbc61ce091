package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dnscheck"
)

// dnsRecordChecks: ebb dns check for every hosted domain (not the domain
// aliases' own records: they share the target's host). SPF, DMARC and
// DKIM are left to auth.dns and dkim.keys, which report them already; the
// rest (MX, MTA-STS, TLS-RPT, TLSA, SRV, PTR …) is reported here, one
// finding per record that needs the admin, and one ok line per domain.
func dnsRecordChecks() []Check {
	return []Check{{Name: "dns.records", Run: checkDNSRecords}}
}

// reportedElsewhere are the kinds other checks report.
var reportedElsewhere = map[string]bool{"SPF": true, "DMARC": true, "DKIM": true}

func checkDNSRecords(ctx context.Context, env *Env) []Finding {
	const name = "dns.records"
	o := dnscheck.FromConfig(env.Cfg)
	var out []Finding
	for _, dom := range hostedDomains(ctx, env, false) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		recs := dnscheck.Check(cctx, o, dom)
		cancel()
		ok := 0
		for _, r := range recs {
			if reportedElsewhere[r.Kind] {
				continue
			}
			if !r.Failing() {
				ok++
				continue
			}
			why := r.Why
			if len(r.Published) > 0 {
				why += "; published: " + strings.Join(r.Published, " | ")
			}
			e := diag.New("lookup", "find the "+r.Kind+" record", r.Name, errors.New(string(r.Status)+": "+why))
			e.Setting = env.Cfg.Setting("dns.resolver")
			if r.Want != "" {
				e.SetFix(diag.Steps(diag.Say("publish: " + strings.ReplaceAll(r.Want, "\n", " and "))).AndCheck("ebb dns check " + dom))
			}
			// A TLSA that does not match what STARTTLS offers defers all
			// mail from DANE senders: a failure. The rest warns.
			if r.Kind == "TLSA" && r.Status == dnscheck.Wrong {
				out = append(out, Failed(name, e))
			} else {
				out = append(out, Warned(name, e))
			}
		}
		out = append(out, Passed(name, dom, fmt.Sprintf("%d records as they should be (ebb dns check %s lists them)", ok, dom)))
	}
	return out
}
