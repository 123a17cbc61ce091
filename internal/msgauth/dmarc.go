package msgauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/ebbmail/ebb/internal/spf"
)

// The DMARC evaluation (RFC 7489 §6.6). go-msgauth's dmarc package parses
// a record; the discovery, the alignment and the policy with sp and pct
// are here.

// errTempDNS marks a DNS answer that may come later.
var errTempDNS = errors.New("temporary DNS failure")

// OrgDomain is the organizational domain (RFC 7489 §3.2): the public
// suffix (from the Public Suffix List) plus one label. A name that is
// itself a public suffix is its own organizational domain.
func OrgDomain(domain string) string {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	org, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return domain
	}
	return org
}

// aligned: strict asks the same name, relaxed the same organizational
// domain (RFC 7489 §3.1.1, §3.1.2).
func aligned(id, from string, mode dmarc.AlignmentMode) bool {
	id, from = strings.ToLower(id), strings.ToLower(from)
	if id == "" || from == "" {
		return false
	}
	if mode == dmarc.AlignmentStrict {
		return id == from
	}
	return OrgDomain(id) == OrgDomain(from)
}

// lookupDMARC finds the record for from (RFC 7489 §6.6.3): at _dmarc.<from>,
// else at _dmarc.<organizational domain>. atOrg tells which one answered.
// No record is (nil, false, nil).
func (c *Checker) lookupDMARC(ctx context.Context, from string) (rec *dmarc.Record, atOrg bool, err error) {
	rec, err = c.dmarcRecord(ctx, from)
	if err != nil || rec != nil {
		return rec, false, err
	}
	org := OrgDomain(from)
	if org == from {
		return nil, false, nil
	}
	rec, err = c.dmarcRecord(ctx, org)
	return rec, rec != nil, err
}

// dmarcRecord reads the record at _dmarc.<domain>: records that do not
// start with v=DMARC1 are discarded, and more than one left is none
// (RFC 7489 §6.6.3 step 4-5).
func (c *Checker) dmarcRecord(ctx context.Context, domain string) (*dmarc.Record, error) {
	txts, err := c.Resolver.LookupTXT(ctx, "_dmarc."+domain)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: _dmarc.%s: %v", errTempDNS, domain, err)
	}
	var found []string
	for _, t := range txts {
		if strings.HasPrefix(strings.TrimSpace(t), "v=DMARC1") {
			found = append(found, t)
		}
	}
	if len(found) != 1 {
		return nil, nil
	}
	rec, err := dmarc.Parse(found[0])
	if err != nil {
		return nil, fmt.Errorf("the record at _dmarc.%s: %w", domain, err)
	}
	return rec, nil
}

// dmarcFrom finds the RFC5322.From domain (RFC 7489 §6.6.1), or the
// result when the message cannot be evaluated.
func dmarcFrom(fields []field) (string, *DMARCResult) {
	out := &DMARCResult{Disposition: Accept}
	var froms []string
	n := 0
	for _, f := range fields {
		if strings.EqualFold(f.name, "From") {
			n++
			froms = append(froms, addressDomains(f.unfolded())...)
		}
	}
	switch {
	case n == 0 || len(froms) == 0:
		out.Result, out.Reason = "permerror", "no From: address with a domain"
		return "", out
	case n > 1:
		// A message with several From fields is not evaluated (it may
		// hide the domain the reader sees).
		out.Result, out.Reason = "permerror", "more than one From: field"
		return "", out
	}
	for _, d := range froms[1:] {
		if d != froms[0] {
			out.From = froms[0]
			out.Result, out.Reason = "permerror", "From: holds addresses of different domains"
			return "", out
		}
	}
	return froms[0], nil
}

// dmarcEval evaluates the policy of from (the record as lookupDMARC
// found it) over the SPF and DKIM results.
func (c *Checker) dmarcEval(from string, rec *dmarc.Record, atOrg bool, err error, res *Result) DMARCResult {
	out := DMARCResult{Disposition: Accept, From: from}
	switch {
	case errors.Is(err, errTempDNS):
		out.Result, out.Reason = "temperror", err.Error()
		return out
	case err != nil:
		out.Result, out.Reason = "permerror", err.Error()
		return out
	case rec == nil:
		out.Result = "none"
		return out
	}
	out.Policy = string(rec.Policy)
	if atOrg && rec.SubdomainPolicy != "" {
		out.Policy = string(rec.SubdomainPolicy)
	}
	out.Percent = 100
	if rec.Percent != nil {
		out.Percent = *rec.Percent
	}

	spfAligned := aligned(res.SPF.Domain, from, rec.SPFAlignment)
	var failed []string
	if res.SPF.Result == spf.Pass && spfAligned {
		out.Result = "pass"
		return out
	}
	s := fmt.Sprintf("SPF %s", res.SPF.Result)
	if res.SPF.Domain != "" {
		s += " for " + res.SPF.Domain
	}
	if res.SPF.Result == spf.Pass {
		s += " (not aligned with " + from + ")"
	}
	failed = append(failed, s)
	temp := res.SPF.Result == spf.TempError && spfAligned
	if len(res.DKIM) == 0 {
		failed = append(failed, "DKIM none")
	}
	for _, d := range res.DKIM {
		al := aligned(d.Domain, from, rec.DKIMAlignment)
		if d.Result == "pass" && al {
			out.Result = "pass"
			return out
		}
		s := fmt.Sprintf("DKIM %s for %s", d.Result, d.Domain)
		if d.Result == "pass" {
			s += " (not aligned with " + from + ")"
		}
		failed = append(failed, s)
		temp = temp || (d.Result == "temperror" && al)
	}
	out.Failed = strings.Join(failed, ", ")
	if temp {
		// A DNS failure kept an aligned check from passing: say so, and
		// never act on it (it may pass when retried).
		out.Result, out.Reason = "temperror", "an aligned check failed temporarily: "+out.Failed
		return out
	}
	out.Result = "fail"
	out.Reason = out.Failed
	out.Disposition = Disposition(out.Policy)
	if out.Percent < 100 && c.percent() >= out.Percent {
		// RFC 7489 §6.6.4: outside the sample the next milder policy
		// applies.
		switch out.Disposition {
		case Reject:
			out.Disposition = Quarantine
		case Quarantine:
			out.Disposition = Accept
		}
	}
	return out
}
