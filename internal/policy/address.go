// Package policy decides who may do what on ebb's SMTP doors: which
// recipients a client may relay to (no open relay), which senders an
// authenticated user may use, and how often a client may fail to log in or
// connect. The decisions are pure functions of their inputs (plus the
// directory, behind an interface), so the whole matrix of relay tricks is a
// table test here, and the SMTP sessions only ask.
package policy

import (
	"fmt"
	"strings"
)

// Address is an envelope address split into its local part and domain. The
// domain is lower case without a trailing dot; the local part is kept as
// written (its case may matter, RFC 5321 §2.4).
type Address struct {
	Local  string
	Domain string
}

func (a Address) String() string { return a.Local + "@" + a.Domain }

// Limits from RFC 5321 §4.5.3.1.
const (
	MaxLocalPart = 64
	MaxDomain    = 255
	MaxPath      = 256
)

// Refusal is a reply that refuses a command: the SMTP code, the enhanced
// status code (RFC 3463) and a sentence for the client. It never holds a
// local path.
type Refusal struct {
	Code     int
	Enhanced [3]int
	Message  string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Message)
}

func badSyntax(addr, why string) *Refusal {
	return &Refusal{Code: 553, Enhanced: [3]int{5, 1, 3}, Message: fmt.Sprintf("<%s>: %s", clip(addr), why)}
}

// clip shortens an address for a reply line (RFC 5321 §4.5.3.1.5 bounds a
// reply line at 512 octets).
// Control characters become "?" so that a reply is always one line.
func clip(s string) string {
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// ParseAddress splits a recipient or sender as go-smtp hands it over (angle
// brackets, source route and quotes already removed) and refuses what ebb
// never routes:
//   - more than one "@" ("user@remote@ours", or "\"user@remote\"@ours" once
//     unquoted): which "@" is meant differs between programs, the classic
//     way to trick a relay check;
//   - "%" or "!" in the local part ("user%remote@ours", "remote!user@ours"):
//     the percent hack and UUCP bang paths, routing by local part that ebb
//     does not do (RFC 5321 §3.6.1 lets a server refuse them);
//   - a missing or empty part, empty labels, control characters, and
//     addresses longer than RFC 5321 allows.
//
// A source route that is still present ("@ours:user@remote") is removed as
// RFC 5321 §4.1.1.3 says (the route is ignored, the mailbox is what counts).
func ParseAddress(s string) (Address, *Refusal) {
	if s == "" {
		return Address{}, badSyntax(s, "an empty address is not a recipient")
	}
	if len(s) > MaxPath {
		return Address{}, badSyntax(s, fmt.Sprintf("address longer than %d characters (RFC 5321 4.5.3.1.3)", MaxPath))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			return Address{}, badSyntax(s, "control character in address")
		}
	}
	if strings.HasPrefix(s, "@") {
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return Address{}, badSyntax(s, "malformed source route")
		}
		s = s[i+1:]
	}
	if strings.Count(s, "@") != 1 {
		if !strings.Contains(s, "@") {
			return Address{}, badSyntax(s, "no domain: write user@domain")
		}
		return Address{}, badSyntax(s, "more than one @: ebb does not route on addresses inside addresses")
	}
	i := strings.IndexByte(s, '@')
	local, domain := s[:i], s[i+1:]
	switch {
	case local == "":
		return Address{}, badSyntax(s, "empty local part")
	case len(local) > MaxLocalPart:
		return Address{}, badSyntax(s, fmt.Sprintf("local part longer than %d characters (RFC 5321 4.5.3.1.1)", MaxLocalPart))
	case strings.ContainsAny(local, "%!"):
		return Address{}, badSyntax(s, "% and ! routing in the local part is not supported")
	}
	d, r := normaliseDomain(s, domain)
	if r != nil {
		return Address{}, r
	}
	return Address{Local: local, Domain: d}, nil
}

// normaliseDomain lower-cases the domain and removes one trailing dot
// ("EXAMPLE.test." is example.test). Address literals ("[192.0.2.1]") are
// kept as they are; they are never a hosted domain.
func normaliseDomain(addr, d string) (string, *Refusal) {
	if d == "" {
		return "", badSyntax(addr, "empty domain")
	}
	if strings.HasPrefix(d, "[") {
		if !strings.HasSuffix(d, "]") || len(d) < 3 {
			return "", badSyntax(addr, "malformed address literal")
		}
		return strings.ToLower(d), nil
	}
	d = strings.TrimSuffix(strings.ToLower(d), ".")
	if d == "" || len(d) > MaxDomain {
		return "", badSyntax(addr, "bad domain length")
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" {
			return "", badSyntax(addr, "empty label in domain")
		}
		if len(label) > 63 {
			return "", badSyntax(addr, "domain label longer than 63 characters")
		}
		for j := 0; j < len(label); j++ {
			c := label[j]
			if c < 0x80 && !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
				return "", badSyntax(addr, fmt.Sprintf("character %q not allowed in a domain", c))
			}
		}
	}
	return d, nil
}

// IsLiteral reports whether the domain is an address literal ("[192.0.2.1]").
func (a Address) IsLiteral() bool { return strings.HasPrefix(a.Domain, "[") }
