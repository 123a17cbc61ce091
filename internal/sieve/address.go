package sieve

import "strings"

// mailAddr is one address from an address header or the envelope.
type mailAddr struct {
	local, domain string
	all           string
	valid         bool
}

// parseAddressList splits an address header value into addresses, leniently:
// display names, comments, quoted strings, groups and source routes are
// skipped (RFC 5322 §3.4; RFC 5228 §2.7.4 compares only the addr-spec).
//
// As in Pigeonhole, invalid items are dropped, and a value without any valid
// address (such as "undisclosed-recipients:;" or "nobody") is one invalid
// address whose :all is the raw value and which has no other parts.
func parseAddressList(v string) []mailAddr {
	var out []mailAddr
	for _, item := range splitAddressItems(v) {
		a, ok := parseOneAddress(item)
		if ok && a.valid {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		if raw := strings.TrimSpace(v); raw != "" {
			return []mailAddr{{all: raw}}
		}
	}
	return out
}

// splitAddressItems splits at commas and group delimiters outside quotes,
// comments and angle brackets.
func splitAddressItems(v string) []string {
	var items []string
	var cur strings.Builder
	depth, angle := 0, false
	inQuote := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case inQuote:
			cur.WriteByte(c)
			if c == '\\' && i+1 < len(v) {
				i++
				cur.WriteByte(v[i])
			} else if c == '"' {
				inQuote = false
			}
		case depth > 0:
			if c == '\\' && i+1 < len(v) {
				i++
			} else if c == '(' {
				depth++
			} else if c == ')' {
				depth--
			}
			// comments are dropped
		case c == '"':
			inQuote = true
			cur.WriteByte(c)
		case c == '(':
			depth++
		case c == '<':
			angle = true
			cur.WriteByte(c)
		case c == '>':
			angle = false
			cur.WriteByte(c)
		case !angle && c == ',':
			items = append(items, cur.String())
			cur.Reset()
		case !angle && c == ':':
			// "group-name:" starts a group; what came before is its name.
			cur.Reset()
		case !angle && c == ';':
			items = append(items, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	items = append(items, cur.String())
	return items
}

func parseOneAddress(item string) (mailAddr, bool) {
	s := strings.TrimSpace(item)
	if s == "" {
		return mailAddr{}, false
	}
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			s = s[i+1:]
		} else {
			s = s[i+1 : i+j]
		}
		// Source route "@a,@b:user@host" (RFC 5322 §4.4 obs-route).
		if k := strings.LastIndexByte(s, ':'); k >= 0 && strings.HasPrefix(strings.TrimSpace(s), "@") {
			s = s[k+1:]
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return mailAddr{}, false
		}
	}
	return splitAddr(s), true
}

// splitAddr splits an addr-spec at its last "@" and unquotes a quoted local
// part.
func splitAddr(s string) mailAddr {
	s = strings.TrimSpace(s)
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return mailAddr{all: s}
	}
	local := unquoteLocal(strings.TrimSpace(s[:at]))
	domain := strings.TrimSpace(s[at+1:])
	return mailAddr{local: local, domain: domain, all: s, valid: local != "" && domain != ""}
}

// quoteLocal writes a local part as RFC 5322 wants it: a dot-atom as is,
// anything else quoted (Pigeonhole's :all gives "Quoted Local"@example.org).
func quoteLocal(l string) string {
	if isDotAtom(l) {
		return l
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(l); i++ {
		if l[i] == '"' || l[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(l[i])
	}
	b.WriteByte('"')
	return b.String()
}

func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f || strings.IndexByte("()<>[]:;@\\,\"", c) >= 0 {
			return false
		}
	}
	return true
}

func unquoteLocal(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		var b strings.Builder
		for i := 1; i < len(s)-1; i++ {
			if s[i] == '\\' && i+1 < len(s)-1 {
				i++
			}
			b.WriteByte(s[i])
		}
		return b.String()
	}
	return s
}

// addrPart is the :all/:localpart/:domain/:user/:detail selector (RFC 5228
// §2.7.4, RFC 5233).
type addrPart int

const (
	apAll addrPart = iota
	apLocal
	apDomain
	apUser
	apDetail
)

var addrPartTags = []tagDef{
	{name: "all", group: "addrpart"},
	{name: "localpart", group: "addrpart"},
	{name: "domain", group: "addrpart"},
	{name: "user", group: "addrpart", ext: "subaddress"},
	{name: "detail", group: "addrpart", ext: "subaddress"},
}

func addrPartOf(a *args) addrPart {
	switch a.group["addrpart"] {
	case "localpart":
		return apLocal
	case "domain":
		return apDomain
	case "user":
		return apUser
	case "detail":
		return apDetail
	}
	return apAll
}

// part extracts an address part; ok is false when the part does not exist
// (":detail" of an address without separator does not match anything,
// RFC 5233 §4). An invalid address (no "@") has only :all, its raw text,
// as in Pigeonhole.
func (a mailAddr) part(p addrPart, sep string) (string, bool) {
	if !a.valid && p != apAll {
		return "", false
	}
	switch p {
	case apLocal:
		return a.local, true
	case apDomain:
		return a.domain, true
	case apUser, apDetail:
		i := -1
		if sep != "" {
			i = strings.Index(a.local, sep)
		}
		if i < 0 {
			if p == apUser {
				return a.local, true
			}
			return "", false
		}
		if p == apUser {
			return a.local[:i], true
		}
		return a.local[i+len(sep):], true
	}
	if a.valid {
		return quoteLocal(a.local) + "@" + a.domain, true
	}
	return a.all, true
}
