package spf

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Record is a parsed SPF record (RFC 7208 §4.6, §12): its directives in
// order and its two modifiers. Parsing checks the whole record, so a
// syntax error anywhere is a permerror before any term is evaluated
// (§4.6: "If there are any syntax errors anywhere in the record,
// check_host() returns immediately with the result "permerror"").
type Record struct {
	Directives []Directive
	Redirect   *MacroString // redirect= domain-spec, or nil
	Exp        *MacroString // exp= domain-spec, or nil
}

// Directive is one [qualifier] mechanism (§4.6.2, §5).
type Directive struct {
	Qualifier Result // Pass, Fail, SoftFail or Neutral
	Mechanism string // all, include, a, mx, ptr, ip4, ip6, exists
	// Domain is the domain-spec; nil where the mechanism defaults to the
	// current domain (a, mx, ptr).
	Domain *MacroString
	// Prefix is the network of ip4 and ip6.
	Prefix netip.Prefix
	// Bits4 and Bits6 are the dual-cidr-length of a and mx (32 and 128
	// when absent).
	Bits4, Bits6 int
	// Text is the term as written, for reasons.
	Text string
}

// SyntaxError is a record that does not follow the ABNF of RFC 7208 §12.
type SyntaxError struct {
	Term   string // the term at fault ("" for the record as a whole)
	Reason string
}

func (e *SyntaxError) Error() string {
	if e.Term == "" {
		return "syntax error: " + e.Reason
	}
	return fmt.Sprintf("syntax error in %q: %s", e.Term, e.Reason)
}

// IsSPF reports whether a TXT record is an SPF version 1 record: it begins
// with "v=spf1" (any case) followed by a space or its end (§4.5).
func IsSPF(txt string) bool {
	if len(txt) < 6 || !strings.EqualFold(txt[:6], "v=spf1") {
		return false
	}
	return len(txt) == 6 || txt[6] == ' '
}

// Parse parses an SPF record, "v=spf1" and all.
func Parse(txt string) (*Record, error) {
	if !IsSPF(txt) {
		return nil, &SyntaxError{Reason: "not an SPF record (no v=spf1)"}
	}
	// §3.1, §12: a record is ASCII; terms are separated by one or more
	// spaces (SP only: a tab, CR or LF is no separator, §4.6.1).
	for i := 0; i < len(txt); i++ {
		if c := txt[i]; c < 0x20 || c > 0x7e {
			return nil, &SyntaxError{Reason: fmt.Sprintf("byte 0x%02x at offset %d: a record is printable ASCII separated by spaces", c, i)}
		}
	}
	rec := &Record{}
	for _, term := range strings.Split(txt[6:], " ") {
		if term == "" {
			continue
		}
		if err := rec.addTerm(term); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

func (rec *Record) addTerm(term string) error {
	bad := func(format string, a ...any) error {
		return &SyntaxError{Term: term, Reason: fmt.Sprintf(format, a...)}
	}
	// modifier = name "=" macro-string, name = ALPHA *( ALPHA / DIGIT /
	// "-" / "_" / "." ). A term whose text before its first "=" is not a
	// name is a directive (and "=" is then one of its macro-literals).
	if name, value, ok := strings.Cut(term, "="); ok && isName(name) {
		switch strings.ToLower(name) {
		case "redirect", "exp":
			ms, err := parseDomainSpec(value)
			if err != nil {
				return bad("%v", err)
			}
			// §6: each at most once.
			if strings.EqualFold(name, "redirect") {
				if rec.Redirect != nil {
					return bad("redirect= appears twice")
				}
				rec.Redirect = ms
			} else {
				if rec.Exp != nil {
					return bad("exp= appears twice")
				}
				rec.Exp = ms
			}
		default:
			// §6: unknown modifiers are ignored, but their value is a
			// macro-string and must parse.
			if _, err := parseMacroString(value, false, false); err != nil {
				return bad("%v", err)
			}
		}
		return nil
	}

	d := Directive{Qualifier: Pass, Text: term, Bits4: 32, Bits6: 128}
	rest := term
	switch rest[0] {
	case '+':
		rest = rest[1:]
	case '-':
		d.Qualifier, rest = Fail, rest[1:]
	case '~':
		d.Qualifier, rest = SoftFail, rest[1:]
	case '?':
		d.Qualifier, rest = Neutral, rest[1:]
	}
	name := rest
	if i := strings.IndexAny(rest, ":/"); i >= 0 {
		name = rest[:i]
	}
	arg := rest[len(name):]
	d.Mechanism = strings.ToLower(name)
	var err error
	switch d.Mechanism {
	case "all":
		if arg != "" {
			return bad("all takes no argument")
		}
	case "include", "exists":
		if !strings.HasPrefix(arg, ":") {
			return bad("%s needs a domain (%s:domain)", d.Mechanism, d.Mechanism)
		}
		if d.Domain, err = parseDomainSpec(arg[1:]); err != nil {
			return bad("%v", err)
		}
	case "a", "mx":
		spec, cidr := splitDualCIDR(arg)
		if d.Bits4, d.Bits6, err = parseDualCIDR(cidr); err != nil {
			return bad("%v", err)
		}
		if spec != "" {
			if !strings.HasPrefix(spec, ":") {
				return bad("unexpected %q after %s", spec, d.Mechanism)
			}
			if d.Domain, err = parseDomainSpec(spec[1:]); err != nil {
				return bad("%v", err)
			}
		}
	case "ptr":
		if arg != "" {
			if !strings.HasPrefix(arg, ":") {
				return bad("ptr takes no CIDR length")
			}
			if d.Domain, err = parseDomainSpec(arg[1:]); err != nil {
				return bad("%v", err)
			}
		}
	case "ip4", "ip6":
		if !strings.HasPrefix(arg, ":") {
			return bad("%s needs a network (%s:address)", d.Mechanism, d.Mechanism)
		}
		if d.Prefix, err = parseNetwork(d.Mechanism, arg[1:]); err != nil {
			return bad("%v", err)
		}
	default:
		return bad("unknown mechanism %q", name)
	}
	rec.Directives = append(rec.Directives, d)
	return nil
}

func isName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// splitDualCIDR splits "a:example.com/24//64" into ":example.com" and
// "/24//64": the cidr is the longest suffix of the form [/N][//N] with
// digits only (a domain-spec may hold "/" itself: RFC 7208 §7.1
// macro-literal).
func splitDualCIDR(arg string) (spec, cidr string) {
	end := len(arg)
	// Optional "//" 1*DIGIT at the end.
	if i := digitsBefore(arg, end); i < end && i >= 2 && arg[i-2:i] == "//" {
		end = i - 2
	}
	// Optional "/" 1*DIGIT before it.
	if i := digitsBefore(arg, end); i < end && i >= 1 && arg[i-1] == '/' && (i < 2 || arg[i-2] != '/') {
		end = i - 1
	}
	return arg[:end], arg[end:]
}

// digitsBefore is the start of the run of digits that ends at end.
func digitsBefore(s string, end int) int {
	i := end
	for i > 0 && isDigit(s[i-1]) {
		i--
	}
	return i
}

func parseDualCIDR(cidr string) (int, int, error) {
	b4, b6 := 32, 128
	v4, v6, dual := cidr, "", false
	if i := strings.Index(cidr, "//"); i >= 0 {
		v4, v6, dual = cidr[:i], cidr[i+2:], true
	}
	var err error
	if v4 != "" {
		if b4, err = cidrLength(v4[1:], 32); err != nil {
			return 0, 0, err
		}
	}
	if dual {
		if b6, err = cidrLength(v6, 128); err != nil {
			return 0, 0, err
		}
	}
	return b4, b6, nil
}

// cidrLength parses ip4-cidr-length or ip6-cidr-length without the "/":
// "0" or digits without a leading zero, at most max.
func cidrLength(s string, max int) (int, error) {
	if s == "" || len(s) > 3 || (s[0] == '0' && len(s) > 1) {
		return 0, fmt.Errorf("bad CIDR length /%s", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > max {
		return 0, fmt.Errorf("bad CIDR length /%s (at most %d)", s, max)
	}
	return n, nil
}

// parseNetwork parses ip4-network [ip4-cidr-length] or ip6-network
// [ip6-cidr-length].
func parseNetwork(mech, s string) (netip.Prefix, error) {
	addr, bits := s, ""
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		addr, bits = s[:i], s[i+1:]
	}
	max := 32
	if mech == "ip6" {
		max = 128
	}
	n := max
	if strings.Contains(s, "/") {
		var err error
		if n, err = cidrLength(bits, max); err != nil {
			return netip.Prefix{}, err
		}
	}
	var ip netip.Addr
	if mech == "ip4" {
		if !isIP4Network(addr) {
			return netip.Prefix{}, fmt.Errorf("bad IPv4 address %q", addr)
		}
		ip, _ = netip.ParseAddr(addr)
	} else {
		a, err := netip.ParseAddr(addr)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("bad IPv6 address %q", addr)
		}
		ip = a
	}
	return netip.PrefixFrom(ip, n).Masked(), nil
}

// isIP4Network is ip4-network = qnum "." qnum "." qnum "." qnum, a qnum
// being 0-255 without leading zeros.
func isIP4Network(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || (p[0] == '0' && len(p) > 1) {
			return false
		}
		for i := 0; i < len(p); i++ {
			if !isDigit(p[i]) {
				return false
			}
		}
		if n, _ := strconv.Atoi(p); n > 255 {
			return false
		}
	}
	return true
}

// parseDomainSpec parses domain-spec = macro-string domain-end, where
// domain-end = ( "." toplabel [ "." ] ) / macro-expand. It is checked as
// written, not after expansion (§7.1).
func parseDomainSpec(s string) (*MacroString, error) {
	if s == "" {
		return nil, errors.New("empty domain-spec")
	}
	ms, err := parseMacroString(s, false, false)
	if err != nil {
		return nil, err
	}
	last := ms.items[len(ms.items)-1]
	if last.letter != 0 {
		return ms, nil
	}
	lit := last.literal
	lit = strings.TrimSuffix(lit, ".")
	i := strings.LastIndexByte(lit, '.')
	if i < 0 {
		return nil, fmt.Errorf("domain %q does not end in a top-level label", s)
	}
	if !isTopLabel(lit[i+1:]) {
		return nil, fmt.Errorf("domain %q does not end in a valid top-level label", s)
	}
	return ms, nil
}

// isTopLabel is toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum
// "-" *( alphanum / "-" ) alphanum ): an LDH label that is not all digits.
func isTopLabel(s string) bool {
	if s == "" {
		return false
	}
	alpha, dash := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlpha(c):
			alpha = true
		case isDigit(c):
		case c == '-':
			dash = true
		default:
			return false
		}
	}
	if dash {
		return s[0] != '-' && s[len(s)-1] != '-'
	}
	return alpha
}
