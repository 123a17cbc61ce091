// Package envaddr is the one parser of envelope addresses (RFC 5321 §4.1.2
// Mailbox) in ebb. MAIL FROM, RCPT TO, the queue's use of a sender as the
// address of a delivery status notification, and the header lines ebb
// writes from an address (Return-Path, Delivered-To, Received "for") all ask
// it, so that an address accepted at the door can be used everywhere later:
// what it refuses is refused while the client is still connected, never
// bounced afterwards (no backscatter).
//
// It takes an address as go-smtp hands it over (angle brackets removed, a
// quoted local part already unquoted) and accepts only what can be written
// back without quoting: a dot-string local part of RFC 5322 atext (plus
// UTF-8, RFC 6531 §3.3) and a domain of letters, digits, "-" and "_" (or an
// address literal). A local part that needs quotes (spaces, tabs, "<",
// control characters, a "\"") is refused: ebb would have to quote it again
// in every header and DSN, and no hosted mailbox can have one.
//
//	a, err := envaddr.Parse("Alice@Example.TEST.")
//	// a.Local "Alice", a.Domain "example.test"; err is an *Error with the
//	// SMTP reply (553 5.1.3 and a sentence for the client).
package envaddr

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Address is an envelope address split into its local part and domain. The
// domain is lower case without a trailing dot; the local part is kept as
// written (its case may matter, RFC 5321 §2.4).
type Address struct {
	Local  string
	Domain string
}

func (a Address) String() string { return a.Local + "@" + a.Domain }

// IsLiteral reports whether the domain is an address literal ("[192.0.2.1]").
func (a Address) IsLiteral() bool { return strings.HasPrefix(a.Domain, "[") }

// ASCII reports whether the address is all ASCII (else it needs SMTPUTF8,
// RFC 6531).
func (a Address) ASCII() bool { return isASCII(a.Local) && isASCII(a.Domain) }

// Limits from RFC 5321 §4.5.3.1. MaxLocalPart is the RFC's 64 octets, which
// the directory keeps for hosted mailboxes; Parse bounds a local part only
// by MaxPath, because addresses in the wild exceed 64 (SRS0=hash=tt=
// domain=local@forwarder easily does) and §4.5.3.1 asks a server to impose
// no limit where it can: refusing them would refuse bounces and forwards.
const (
	MaxLocalPart = 64
	MaxDomain    = 255
	MaxPath      = 256
)

// Error is a refused address: the SMTP reply (code and RFC 3463 enhanced
// code) and a sentence that may be shown to the client; it never holds a
// local path, and control characters in the address are shown as "?".
type Error struct {
	Code     int
	Enhanced [3]int
	Message  string
	// Reason is why, without the address: "control character in address".
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %d.%d.%d %s", e.Code, e.Enhanced[0], e.Enhanced[1], e.Enhanced[2], e.Message)
}

func bad(addr, why string) *Error {
	return &Error{Code: 553, Enhanced: [3]int{5, 1, 3}, Message: fmt.Sprintf("<%s>: %s", Clip(addr), why), Reason: why}
}

// Clip shortens an address for a reply or log line (RFC 5321 §4.5.3.1.5
// bounds a reply line at 512 octets) and shows control characters and
// invalid UTF-8 as "?", so that the line stays one line.
func Clip(s string) string {
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// Parse checks one address and splits it. It refuses:
//   - more than one "@" ("user@remote@ours", or "\"user@remote\"@ours" once
//     unquoted): which "@" is meant differs between programs, the classic
//     way to trick a relay check;
//   - "%" or "!" in the local part (the percent hack and UUCP bang paths,
//     routing by local part that ebb does not do; RFC 5321 §3.6.1 lets a
//     server refuse them);
//   - a local part that is not a dot-string (RFC 5321 §4.1.2: it would need
//     quoting) or has empty parts ("a..b", ".a", "a.");
//   - control characters, invalid UTF-8, empty parts and labels, and lengths
//     beyond RFC 5321 §4.5.3.1.
//
// A source route that is still present ("@ours:user@remote") is removed as
// RFC 5321 §4.1.1.3 says (the route is ignored, the mailbox is what counts).
func Parse(s string) (Address, error) {
	a, e := parse(s)
	if e != nil {
		return Address{}, e
	}
	return a, nil
}

// Split cuts an address that was parsed before (one in the queue, the
// directory, an SRS rewrite) at its last "@", into the local part and the
// domain as written. ok is false without an "@" or with nothing after it;
// the local part may be empty (the directory's catch-all "@domain"). To
// check an address that comes from outside, use Parse.
func Split(addr string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 || i == len(addr)-1 {
		return addr, "", false
	}
	return addr[:i], addr[i+1:], true
}

// ParseReversePath is Parse for MAIL FROM: "" is the null sender <> (RFC
// 5321 §4.5.5) and gives the zero Address.
func ParseReversePath(s string) (Address, error) {
	if s == "" {
		return Address{}, nil
	}
	return Parse(s)
}

// Writable checks that s can be written between angle brackets in a
// header field (Return-Path, Delivered-To) or a log line as it is: valid
// UTF-8, at most MaxPath long, no control character (a line break would
// start a forged field; an escape sequence would paint a terminal), no
// white space and no angle bracket. It is the part of Parse that a path
// given by another MTA must pass (ebb deliver -f), whose other rules ebb
// does not impose on what it did not accept itself. "" is the null path.
func Writable(s string) error {
	if e := writable(s); e != nil {
		return e
	}
	return nil
}

func writable(s string) *Error {
	if e := basic(s); e != nil {
		return e
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '<' || r == '>' }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return bad(s, fmt.Sprintf("%q in an address (it would need quotes)", r))
	}
	return nil
}

// basic is what every address must be: not too long, valid UTF-8, no
// control character.
func basic(s string) *Error {
	if len(s) > MaxPath {
		return bad(s, fmt.Sprintf("address longer than %d characters (RFC 5321 4.5.3.1.3)", MaxPath))
	}
	if !utf8.ValidString(s) {
		return bad(s, "the address is not valid UTF-8 (RFC 6531)")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return bad(s, "control character in address")
		}
	}
	return nil
}

func parse(s string) (Address, *Error) {
	if s == "" {
		return Address{}, bad(s, "an empty address is not a mailbox")
	}
	if e := basic(s); e != nil {
		return Address{}, e
	}
	if strings.HasPrefix(s, "@") {
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return Address{}, bad(s, "malformed source route")
		}
		s = s[i+1:]
	}
	if strings.Count(s, "@") != 1 {
		if !strings.Contains(s, "@") {
			return Address{}, bad(s, "no domain: write user@domain")
		}
		return Address{}, bad(s, "more than one @: ebb does not route on addresses inside addresses")
	}
	i := strings.IndexByte(s, '@')
	local, domain := s[:i], s[i+1:]
	switch {
	case local == "":
		return Address{}, bad(s, "empty local part")
	case strings.ContainsAny(local, "%!"):
		return Address{}, bad(s, "% and ! routing in the local part is not supported")
	}
	if why := checkLocal(local); why != "" {
		return Address{}, bad(s, why)
	}
	d, e := normaliseDomain(s, domain)
	if e != nil {
		return Address{}, e
	}
	return Address{Local: local, Domain: d}, nil
}

// checkLocal accepts a dot-string (RFC 5321 §4.1.2) of atext (RFC 5322
// §3.2.3) and UTF-8 (RFC 6531 §3.3, atext =/ UTF8-non-ascii).
func checkLocal(local string) string {
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return "a dot at the start or end of the local part, or two dots in a row (RFC 5321 4.1.2)"
	}
	for _, r := range local {
		if r == '.' || isAtext(r) {
			continue
		}
		if r == ' ' || r == '\t' || r == '"' || r == '\\' {
			return "local parts that need quotes (spaces, tabs, quotes, backslashes) are not accepted here"
		}
		return fmt.Sprintf("character %q not allowed in the local part (RFC 5322 3.2.3 atext)", r)
	}
	return ""
}

// isAtext is RFC 5322 §3.2.3 atext, extended by RFC 6532 §3.2 to UTF-8
// (printable, not a space or a control).
func isAtext(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	case r < 0x80:
		return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
	}
	return unicode.IsPrint(r) && !unicode.IsSpace(r)
}

// normaliseDomain lower-cases the domain and removes one trailing dot
// ("EXAMPLE.test." is example.test). Address literals ("[192.0.2.1]") are
// kept as they are; they are never a hosted domain.
func normaliseDomain(addr, d string) (string, *Error) {
	if d == "" {
		return "", bad(addr, "empty domain")
	}
	if strings.HasPrefix(d, "[") {
		// RFC 5321 §4.1.3: an IPv4 address, or "IPv6:" and an IPv6 one.
		if !strings.HasSuffix(d, "]") || len(d) < 3 {
			return "", bad(addr, "malformed address literal")
		}
		in := d[1 : len(d)-1]
		v6, isV6 := strings.CutPrefix(in, "IPv6:")
		ip, err := netip.ParseAddr(v6)
		if err != nil || ip.Zone() != "" || isV6 != ip.Is6() {
			return "", bad(addr, "malformed address literal")
		}
		if isV6 {
			return "[IPv6:" + ip.String() + "]", nil
		}
		return "[" + ip.String() + "]", nil
	}
	d = strings.TrimSuffix(strings.ToLower(d), ".")
	if d == "" || len(d) > MaxDomain {
		return "", bad(addr, "bad domain length")
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" {
			return "", bad(addr, "empty label in domain")
		}
		if len(label) > 63 {
			return "", bad(addr, "domain label longer than 63 characters")
		}
		for _, r := range label {
			if r < 0x80 && !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z') {
				return "", bad(addr, fmt.Sprintf("character %q not allowed in a domain", r))
			}
			if r >= 0x80 && !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) {
				return "", bad(addr, fmt.Sprintf("character %q not allowed in a domain", r))
			}
		}
	}
	return d, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
