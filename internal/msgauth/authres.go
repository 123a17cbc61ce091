package msgauth

import (
	"fmt"
	"sort"
	"strings"
)

// Header renders the results as one Authentication-Results field (RFC
// 8601 §2.2) with authservID, one result per folded line, ending in CRLF.
// Every value is written as RFC 8601's grammar wants it (pvalue: a
// domain name or local-part@domain as it is, anything else a token or a
// quoted-string), so that strict parsers read it: smtp.helo=[127.0.0.1]
// is no domain-name and goes in quotes.
func (r *Result) Header(authservID string) string {
	var rs []string
	add := func(method, value string, params map[string]string) {
		rs = append(rs, formatResult(method, value, params))
	}
	add("spf", string(r.SPF.Result), map[string]string{"reason": r.SPF.Reason, "smtp.mailfrom": r.SPF.Domain})
	add("spf", string(r.HeloSPF.Result), map[string]string{"reason": r.HeloSPF.Reason, "smtp.helo": r.HeloSPF.Domain})
	if len(r.DKIM) == 0 {
		add("dkim", "none", nil)
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
	} else if r.DMARC.Unjudged != "" {
		dm["policy.disposition"] = string(r.DMARC.Disposition)
	}
	add("dmarc", r.DMARC.Result, dm)

	var b strings.Builder
	b.WriteString("Authentication-Results: ")
	b.WriteString(arValue(authservID))
	for _, one := range rs {
		// Fold between results, so that no line passes the
		// 998-character limit (RFC 5322 §2.1.1).
		b.WriteString(";\r\n\t")
		b.WriteString(one)
	}
	b.WriteString("\r\n")
	return b.String()
}

// formatResult writes one resinfo (RFC 8601 §2.2): method=result, the
// reason, then the properties in name order; empty values are left out.
func formatResult(method, result string, params map[string]string) string {
	if result == "" {
		result = "none"
	}
	s := method + "=" + arToken(result)
	if v := params["reason"]; v != "" {
		s += " reason=" + arValue(clean(v))
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "reason" && params[k] != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		s += " " + k + "=" + arPvalue(clean(params[k]))
	}
	return s
}

// arToken keeps a result keyword a token (it always is: our own words).
func arToken(s string) string {
	if isToken(s) {
		return s
	}
	return quoted(s)
}

// arValue is RFC 2045's value: a token, or else a quoted-string.
func arValue(s string) string {
	if isToken(s) {
		return s
	}
	return quoted(s)
}

// arPvalue is RFC 8601's pvalue: [[local-part] "@"] domain-name as it
// is, else a value.
func arPvalue(s string) string {
	d := s
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		if local := s[:i]; local != "" && !isDotAtomASCII(local) {
			return arValue(s)
		}
		d = s[i+1:]
	}
	if isDomainName(d) {
		return s
	}
	return arValue(s)
}

// isToken: 1*<any US-ASCII CHAR except SPACE, CTLs, or tspecials> (RFC
// 2045 §5.1).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// isDomainName: sub-domain *("." sub-domain), sub-domain = Let-dig
// [Ldh-str] (RFC 6376 §3.5, which RFC 8601 §2.2 uses).
func isDomainName(s string) bool {
	if s == "" {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// isDotAtomASCII: an RFC 5322 dot-atom of US-ASCII atext.
func isDotAtomASCII(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' ||
			strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0) {
			return false
		}
	}
	return true
}

// quoted writes s as an RFC 5322 quoted-string: backslash and quote
// escaped; s is US-ASCII without controls (clean).
func quoted(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// clean makes a value safe for a header line and for a strict parser:
// printable US-ASCII only (a DNS error text or a display name could hold
// anything: controls become spaces, other characters "?"), at most 400
// bytes.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r < 32 || r == 127:
			return ' '
		case r > 127:
			return '?'
		}
		return r
	}, s)
	if len(s) > 400 {
		s = s[:400]
	}
	return s
}
