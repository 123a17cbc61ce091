package msgauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/ebbmail/ebb/internal/mailhdr"
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

// dmarcLookups starts the DMARC record lookups of every author domain
// (in wg, beside the other checks' lookups) and returns what evaluates
// them once SPF and DKIM are done: the strictest result among the
// domains (RFC 7489 §6.6.1), or, when the From: gives nothing to judge,
// a refusal.
func (c *Checker) dmarcLookups(ctx context.Context, a mailhdr.Authors, wg *sync.WaitGroup) func(*Result) DMARCResult {
	if a.Incomplete != "" {
		return func(*Result) DMARCResult { return unjudged(a) }
	}
	type found struct {
		rec   *dmarc.Record
		atOrg bool
		err   error
	}
	recs := make([]found, len(a.Domains))
	for i, d := range a.Domains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs[i].rec, recs[i].atOrg, recs[i].err = c.lookupDMARC(ctx, d)
		}()
	}
	return func(res *Result) DMARCResult {
		var out DMARCResult
		for i, d := range a.Domains {
			r := c.dmarcEval(d, recs[i].rec, recs[i].atOrg, recs[i].err, res)
			if i == 0 || stricter(r, out) {
				out = r
			}
		}
		out.Domains, out.Unreadable = a.Domains, a.Unreadable
		var why []string
		if a.Unreadable != "" {
			why = append(why, "the From: cannot be read as RFC 5322 writes it ("+a.Unreadable+"); every domain found in it was evaluated: "+strings.Join(a.Domains, ", "))
		} else if len(a.Domains) > 1 {
			why = append(why, "the From: names "+strings.Join(a.Domains, ", ")+"; the strictest result is given (RFC 7489 section 6.6.1)")
		}
		if out.Reason != "" {
			why = append(why, out.Reason)
		}
		out.Reason = strings.Join(why, "; ")
		return out
	}
}

// unjudged is the result for a message whose From: gives no domain to
// evaluate, or not all of them: it is not let through on that account
// (issue 22: DMARC never fails open because of header syntax). It is
// treated as failing a p=reject policy: refused (auth.dmarc_reject) or
// quarantined.
func unjudged(a mailhdr.Authors) DMARCResult {
	out := DMARCResult{Result: "permerror", Disposition: Reject, Domains: a.Domains, Unreadable: a.Unreadable, Unjudged: a.Incomplete}
	if len(a.Domains) > 0 {
		out.From = a.Domains[0]
	}
	out.Reason = a.Incomplete + "; DMARC cannot be evaluated, so the message is treated as failing a p=reject policy"
	if a.Unreadable != "" {
		out.Reason = a.Incomplete + " (" + a.Unreadable + "); DMARC cannot be evaluated, so the message is treated as failing a p=reject policy"
	}
	out.Failed = a.Incomplete
	return out
}

// stricter reports whether a asks more of the receiver than b: a harder
// disposition, else a worse result (fail, then temperror, permerror,
// none, pass: a domain without a policy or whose check could not be
// finished is never hidden behind one that passed).
func stricter(a, b DMARCResult) bool {
	rank := map[Disposition]int{Accept: 0, Quarantine: 1, Reject: 2}
	if rank[a.Disposition] != rank[b.Disposition] {
		return rank[a.Disposition] > rank[b.Disposition]
	}
	worse := map[string]int{"pass": 0, "none": 1, "permerror": 2, "temperror": 3, "fail": 4}
	return worse[a.Result] > worse[b.Result]
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
	where := from
	if atOrg {
		where = OrgDomain(from)
	}
	out.Published = published(where, rec)
	out.DKIMAligned, out.SPFAligned = alignment(res, from, rec)
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

// Refusal is the text of the SMTP reply that refuses a message this
// result rejects (auth.dmarc_reject): what failed, and how the From: was
// judged when it named several domains or could not be read as RFC 5322
// writes it, or why it could not be judged at all. One line of US-ASCII.
func (d DMARCResult) Refusal() string {
	var s string
	switch {
	case d.Unjudged != "":
		s = "The From: field cannot be judged (" + d.Unjudged + "); DMARC cannot be evaluated, so the message is refused"
	default:
		s = fmt.Sprintf("DMARC policy of %s rejects this message: %s", d.From, d.Failed)
		switch {
		case d.Unreadable != "":
			s += " (the From: cannot be read as RFC 5322 writes it; every domain found in it was evaluated: " + strings.Join(d.Domains, ", ") + ")"
		case len(d.Domains) > 1:
			s += " (the From: names " + strings.Join(d.Domains, ", ") + "; the strictest policy applies)"
		}
	}
	return clean(s)
}
