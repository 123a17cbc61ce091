package dnscheck

import (
	"context"
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/ebbmail/ebb/internal/dmarcrpt"
	"github.com/ebbmail/ebb/internal/envaddr"
	"github.com/ebbmail/ebb/internal/msgauth"
)

// What the reports and DANE add to the records' checks (docs/reports.md,
// docs/dane.md).

// dmarcRUA checks the rua of a published DMARC record: a destination in
// another organisation's domain gets the reports only when that domain
// says it takes them (RFC 7489 §7.1); receivers drop the reports
// otherwise. It returns why not and what that domain must publish, or "".
func (o Options) dmarcRUA(ctx context.Context, domain, record string) (why, want string) {
	var rua []string
	for _, part := range strings.Split(record, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		if strings.TrimSpace(k) == "rua" {
			rua = strings.Split(v, ",")
		}
	}
	dests, _ := dmarcrpt.ParseRUA(rua)
	var whys, wants []string
	for _, d := range dests {
		_, dd, _ := envaddr.Split(d.Address)
		dd = strings.ToLower(dd)
		if msgauth.OrgDomain(dd) == msgauth.OrgDomain(domain) {
			continue
		}
		name := dmarcrpt.AuthorizationName(domain, dd)
		txts, err := o.Client.LookupTXT(ctx, name)
		if err != nil || !dmarcrpt.Authorizes(txts) {
			whys = append(whys, fmt.Sprintf("rua %s is outside %s's organisation and %s does not publish %s TXT \"v=DMARC1\": receivers send it no reports (RFC 7489 §7.1)", d.Address, domain, dd, name))
			wants = append(wants, txtLine(name, "v=DMARC1")+"   (in "+dd+"'s zone)")
		}
	}
	return strings.Join(whys, "; "), strings.Join(wants, "\n")
}

// tlsaSecure says why published TLSA records do not count, when ebb's
// resolver validates (dns.dnssec) and their answer is not secure: senders
// ignore TLSA records that DNSSEC does not vouch for (RFC 7672 §2.2). ""
// when they count, or when ebb cannot tell (dns.dnssec off).
func (o Options) tlsaSecure(ctx context.Context, name string) string {
	if o.Cfg == nil || !o.Cfg.DNS.DNSSEC {
		return ""
	}
	ans, err := o.Client.Lookup(ctx, name, dns.TypeTLSA)
	if err != nil || ans.Secure {
		return ""
	}
	return "the TLSA records are not DNSSEC-validated (dns.resolver gives no AD bit): senders that check DANE ignore them (RFC 7672 §2.2); sign the zone and publish its DS at the parent"
}
