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
	add := func(method, value string, params map[string]string) {
		for k, v := range params {
			params[k] = clean(v) // values come from the client and the DNS
		}
		rs = append(rs, &authres.GenericResult{Method: method, Value: authres.ResultValue(value), Params: params})
	}
	add("spf", string(r.SPF.Result), map[string]string{"reason": r.SPF.Reason, "smtp.mailfrom": r.SPF.Domain})
	add("spf", string(r.HeloSPF.Result), map[string]string{"reason": r.HeloSPF.Reason, "smtp.helo": r.HeloSPF.Domain})
	if len(r.DKIM) == 0 {
		add("dkim", "none", map[string]string{})
	}
	for _, d := range r.DKIM {
		// RFC 8601 §2.7.1 and RFC 6008 §4: header.d, header.s, header.a
		// and the start of header.b tell the signatures apart.
		add("dkim", d.Result, map[string]string{
			"reason": d.Reason, "header.d": d.Domain, "header.s": d.Selector, "header.a": d.Algorithm, "header.b": d.BPrefix,
		})
	}
	if r.DKIMIgnored > 0 {
		add("dkim", "neutral", map[string]string{
			"reason": fmt.Sprintf("%d more signatures not verified (limit auth.dkim_max_signatures)", r.DKIMIgnored),
		})
	}
	dm := map[string]string{"header.from": r.DMARC.From, "reason": r.DMARC.Reason}
	if r.DMARC.Policy != "" {
		// Policy and disposition as the big receivers show them.
		dm["policy.dmarc"] = r.DMARC.Policy
		dm["policy.disposition"] = string(r.DMARC.Disposition)
	}
	add("dmarc", r.DMARC.Result, dm)

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
