// Package arfield reads the value of an Authentication-Results header
// field (RFC 8601) without any of message authentication's checks: its
// authserv-id. The fields themselves are read by internal/mailhdr, like
// every header field. It is its own package so that the delivery agent
// (ebb deliver, ebb-deliver), which drops forged fields but verifies
// nothing, links neither DNS, SPF and DKIM nor the daemon's metrics
// (issue 16: every package linked into a one-message process costs
// start-up time).
package arfield

import "strings"

// AuthservID returns the authserv-id of an Authentication-Results field
// value (RFC 8601 §2.2: [CFWS] authserv-id, a token or quoted-string),
// lower-cased, or "" when there is none.
func AuthservID(value string) string {
	s := skipCFWS(value)
	if s == "" {
		return ""
	}
	if s[0] == '"' {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				if i+1 < len(s) {
					i++
					b.WriteByte(s[i])
				}
			case '"':
				return strings.ToLower(b.String())
			default:
				b.WriteByte(s[i])
			}
		}
		return "" // unterminated
	}
	end := strings.IndexAny(s, " \t\r\n;()\"")
	if end < 0 {
		end = len(s)
	}
	return strings.ToLower(s[:end])
}

// skipCFWS skips white space, line ends and comments (nested, with quoted
// pairs: RFC 5322 §3.2.2) at the start of s.
func skipCFWS(s string) string {
	for len(s) > 0 {
		switch s[0] {
		case ' ', '\t', '\r', '\n':
			s = s[1:]
		case '(':
			depth := 0
			i := 0
			for ; i < len(s); i++ {
				c := s[i]
				if c == '\\' {
					i++
					continue
				}
				if c == '(' {
					depth++
				} else if c == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			if i >= len(s) {
				return "" // unterminated comment
			}
			s = s[i+1:]
		default:
			return s
		}
	}
	return s
}
