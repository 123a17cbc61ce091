package msgauth

import (
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// Header renders the results as one Authentication-Results field (RFC
// 8601 §2.2) with authservID, one result per folded line, ending in CRLF.
func (r *Result) Header(authservID string) string {
	var rs []authres.Result
	rs = append(rs, &authres.SPFResult{Value: authres.ResultValue(r.SPF.Result), Reason: r.SPF.Reason, From: mailfromOf(r)})
	rs = append(rs, &authres.SPFResult{Value: authres.ResultValue(r.HeloSPF.Result), Reason: r.HeloSPF.Reason, Helo: r.HeloSPF.Domain})
	if len(r.DKIM) == 0 {
		rs = append(rs, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, d := range r.DKIM {
		// RFC 8601 §2.7.1 and RFC 6008 §4: header.d, header.s, header.a
		// and the start of header.b tell the signatures apart.
		rs = append(rs, &authres.GenericResult{Method: "dkim", Value: authres.ResultValue(d.Result), Params: map[string]string{
			"reason": d.Reason, "header.d": d.Domain, "header.s": d.Selector, "header.a": d.Algorithm, "header.b": d.BPrefix,
		}})
	}
	if r.DKIMIgnored > 0 {
		rs = append(rs, &authres.GenericResult{Method: "dkim", Value: authres.ResultNeutral, Params: map[string]string{
			"reason": fmt.Sprintf("%d more signatures not verified (limit auth.dkim_max_signatures)", r.DKIMIgnored),
		}})
	}
	dm := map[string]string{"header.from": r.DMARC.From, "reason": r.DMARC.Reason}
	if r.DMARC.Policy != "" {
		// Policy and disposition as the big receivers show them.
		dm["policy.dmarc"] = r.DMARC.Policy
		dm["policy.disposition"] = string(r.DMARC.Disposition)
	}
	rs = append(rs, &authres.GenericResult{Method: "dmarc", Value: authres.ResultValue(r.DMARC.Result), Params: dm})

	for _, one := range rs {
		if g, ok := one.(*authres.GenericResult); ok {
			for k, v := range g.Params {
				g.Params[k] = clean(v)
			}
		}
	}
	r.SPF.Reason, r.HeloSPF.Reason = clean(r.SPF.Reason), clean(r.HeloSPF.Reason)
	rs[0].(*authres.SPFResult).Reason, rs[1].(*authres.SPFResult).Reason = r.SPF.Reason, r.HeloSPF.Reason

	var b strings.Builder
	b.WriteString("Authentication-Results: ")
	b.WriteString(authservID)
	for _, one := range rs {
		// Format each result alone and fold between them, so that no line
		// passes the 998-character limit (RFC 5322 §2.1.1).
		s := authres.Format("x", []authres.Result{one})
		b.WriteString(";\r\n\t")
		b.WriteString(strings.TrimSpace(strings.TrimPrefix(s, "x; ")))
	}
	b.WriteString("\r\n")
	return b.String()
}

// mailfromOf is the smtp.mailfrom value: the domain checked for MAIL FROM.
func mailfromOf(r *Result) string { return r.SPF.Domain }

// clean makes a value safe for a header line: no control characters (a
// DNS error text could hold anything), at most 200 bytes.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 32 || r == 127 {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.ToValidUTF8(s, "?")
}
