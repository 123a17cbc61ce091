package sendmail

import "strings"

// ParseAddressList returns the addr-specs in an address-list header value
// (RFC 5322 §3.4): "Name <a@x>, b@y (comment), group: c@z;". It is tolerant
// where net/mail is strict, because what scripts write in To: is not always
// RFC 5322: a bare login name ("root"), a missing closing bracket, stray
// commas. Display names, comments and group names are dropped; quoted local
// parts keep their quotes.
func ParseAddressList(v string) []string {
	var (
		out      []string
		cur      strings.Builder // the bare addr-spec being collected
		angle    string
		hasAngle bool
	)
	flush := func() {
		a := strings.TrimSpace(cur.String())
		if hasAngle {
			a = strings.TrimSpace(angle)
		}
		if a != "" {
			out = append(out, a)
		}
		cur.Reset()
		angle, hasAngle = "", false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch c {
		case '(':
			// A comment, possibly nested, with quoted-pairs.
			depth := 1
			for i++; i < len(v) && depth > 0; i++ {
				switch v[i] {
				case '\\':
					i++
				case '(':
					depth++
				case ')':
					depth--
				}
			}
			i--
		case '"':
			start := i
			for i++; i < len(v) && v[i] != '"'; i++ {
				if v[i] == '\\' {
					i++
				}
			}
			end := i + 1
			if end > len(v) {
				end = len(v)
			}
			cur.WriteString(v[start:end])
		case '<':
			j := strings.IndexByte(v[i+1:], '>')
			if j < 0 {
				angle, hasAngle = v[i+1:], true
				i = len(v)
			} else {
				angle, hasAngle = v[i+1:i+1+j], true
				i += j + 1
			}
			// The phrase before it was a display name.
			cur.Reset()
		case ':':
			if hasAngle {
				continue
			}
			// "group:" — what came before is the group's name. (A colon
			// inside an angle address never gets here.)
			cur.Reset()
		case ';', ',':
			flush()
		case ' ', '\t', '\r', '\n':
			// Folding white space between tokens of an addr-spec.
		default:
			if hasAngle {
				// Text after "<...>" is not part of the address.
				continue
			}
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}
