package msgauth

import (
	"strings"

	"github.com/emersion/go-msgauth/dmarc"

	"github.com/ebbmail/ebb/internal/spf"
)

// Published is the DMARC record an evaluation used, as an aggregate
// report names it (RFC 7489 §7.2, policy_published), with where it was
// found and where the domain wants reports (rua).
type Published struct {
	Domain string // where the record was found: the From: domain, or its organizational domain
	ADKIM  string // r, s
	ASPF   string
	P      string
	SP     string
	Pct    int
	FO     string
	RUA    []string
}

// published describes rec, found at domain.
func published(domain string, rec *dmarc.Record) *Published {
	p := &Published{Domain: domain, ADKIM: "r", ASPF: "r", P: string(rec.Policy), SP: string(rec.SubdomainPolicy), Pct: 100,
		RUA: append([]string(nil), rec.ReportURIAggregate...)}
	if rec.DKIMAlignment == dmarc.AlignmentStrict {
		p.ADKIM = "s"
	}
	if rec.SPFAlignment == dmarc.AlignmentStrict {
		p.ASPF = "s"
	}
	if rec.Percent != nil {
		p.Pct = *rec.Percent
	}
	var fo []string
	for _, o := range []struct {
		bit dmarc.FailureOptions
		s   string
	}{{dmarc.FailureAll, "0"}, {dmarc.FailureAny, "1"}, {dmarc.FailureDKIM, "d"}, {dmarc.FailureSPF, "s"}} {
		if rec.FailureOptions&o.bit != 0 {
			fo = append(fo, o.s)
		}
	}
	p.FO = strings.Join(fo, ":")
	return p
}

// alignment is what DMARC's policy_evaluated reports: whether DKIM gave
// an aligned pass, and whether SPF did (RFC 7489 §4.2), each looked at on
// its own (the evaluation stops at the first pass).
func alignment(res *Result, from string, rec *dmarc.Record) (dkimOK, spfOK bool) {
	spfOK = res.SPF.Result == spf.Pass && aligned(res.SPF.Domain, from, rec.SPFAlignment)
	for _, d := range res.DKIM {
		if d.Result == "pass" && aligned(d.Domain, from, rec.DKIMAlignment) {
			dkimOK = true
		}
	}
	return dkimOK, spfOK
}
