package spf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// MacroString is a parsed macro-string (RFC 7208 §7.1): literals and
// macro-expands, expanded per check (§7.3).
type MacroString struct {
	items []macroItem
}

type macroItem struct {
	literal string // when letter is 0
	letter  byte   // s l o d i p h c r t v, lower case
	upper   bool   // an upper-case letter: URL-escape the value
	digits  int    // keep this many right-hand parts; 0: all
	reverse bool
	delims  string // split on these; "" means "."
}

// parseMacroString parses s. exp allows the letters only "exp" text may
// use (c, r, t); spaces allows SP (an explain-string, §6.2).
func parseMacroString(s string, exp, spaces bool) (*MacroString, error) {
	ms := &MacroString{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			ms.items = append(ms.items, macroItem{literal: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			// macro-literal = %x21-24 / %x26-7E
			if (c < 0x21 || c > 0x7e) && !(spaces && c == ' ') {
				return nil, fmt.Errorf("byte 0x%02x is not allowed in %q", c, s)
			}
			lit.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("%q ends in a lone %%", s)
		}
		i++
		switch s[i] {
		case '%':
			lit.WriteByte('%')
			continue
		case '_':
			lit.WriteByte(' ')
			continue
		case '-':
			lit.WriteString("%20")
			continue
		case '{':
		default:
			return nil, fmt.Errorf("%%%c in %q: a %% starts %%{…}, %%%%, %%_ or %%-", s[i], s)
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("unterminated macro in %q", s)
		}
		item, err := parseMacro(s[i+1:i+end], exp)
		if err != nil {
			return nil, fmt.Errorf("%v in %q", err, s)
		}
		flush()
		ms.items = append(ms.items, item)
		i += end
	}
	flush()
	if len(ms.items) == 0 {
		ms.items = []macroItem{{}}
	}
	return ms, nil
}

// parseMacro parses what is between "%{" and "}": macro-letter
// transformers *delimiter, transformers = *DIGIT [ "r" ].
func parseMacro(s string, exp bool) (macroItem, error) {
	if s == "" {
		return macroItem{}, fmt.Errorf("empty macro")
	}
	m := macroItem{letter: s[0] | 0x20, upper: 'A' <= s[0] && s[0] <= 'Z'}
	switch m.letter {
	case 's', 'l', 'o', 'd', 'i', 'p', 'h', 'v':
	case 'c', 'r', 't':
		if !exp {
			return macroItem{}, fmt.Errorf("macro %%{%c} is only allowed in exp text", s[0])
		}
	default:
		return macroItem{}, fmt.Errorf("unknown macro letter %q", s[0])
	}
	rest := s[1:]
	n := 0
	for n < len(rest) && isDigit(rest[n]) {
		n++
	}
	if n > 0 {
		v, err := strconv.Atoi(rest[:n])
		if err != nil || n > 3 {
			v = 128 // more parts than any name has: all of them
		}
		if v == 0 {
			// §7.3: "If a DIGIT is specified, the value MUST be nonzero."
			return macroItem{}, fmt.Errorf("macro %%{%s} keeps zero parts", s)
		}
		m.digits = v
	}
	rest = rest[n:]
	if rest != "" && (rest[0] == 'r' || rest[0] == 'R') {
		m.reverse, rest = true, rest[1:]
	}
	for i := 0; i < len(rest); i++ {
		if !strings.ContainsRune(".-+,/_=", rune(rest[i])) {
			return macroItem{}, fmt.Errorf("bad delimiter %q in macro %%{%s}", rest[i], s)
		}
	}
	m.delims = rest
	return m, nil
}

// macroEnv holds the values of the macro letters for one evaluation.
type macroEnv struct {
	sender, local, senderDomain string // s, l, o
	domain                      string // d: the current domain
	helo                        string // h
	ip                          netip.Addr
	receiver                    string // r
	now                         time.Time
	validated                   func() string // p, looked up once when used
}

func (ms *MacroString) expand(env *macroEnv) string {
	var b strings.Builder
	for _, it := range ms.items {
		if it.letter == 0 {
			b.WriteString(it.literal)
			continue
		}
		b.WriteString(it.expand(env))
	}
	return b.String()
}

// expandDomain expands a domain-spec into a name to look up: at most 253
// characters, dropping labels from the left (§7.3), without a final dot.
func (ms *MacroString) expandDomain(env *macroEnv) string {
	s := strings.TrimSuffix(ms.expand(env), ".")
	for len(s) > 253 {
		i := strings.IndexByte(s, '.')
		if i < 0 {
			return s[len(s)-253:]
		}
		s = s[i+1:]
	}
	return s
}

func (m macroItem) expand(env *macroEnv) string {
	var v string
	switch m.letter {
	case 's':
		v = env.sender
	case 'l':
		v = env.local
	case 'o':
		v = env.senderDomain
	case 'd':
		v = env.domain
	case 'h':
		v = env.helo
	case 'i':
		v = dotted(env.ip)
	case 'c':
		v = env.ip.String()
	case 'v':
		v = "in-addr"
		if env.ip.Is6() {
			v = "ip6"
		}
	case 'p':
		v = env.validated()
	case 'r':
		v = env.receiver
		if v == "" {
			v = "unknown"
		}
	case 't':
		v = strconv.FormatInt(env.now.Unix(), 10)
	}
	if m.digits > 0 || m.reverse || m.delims != "" {
		delims := m.delims
		if delims == "" {
			delims = "."
		}
		parts := splitAny(v, delims)
		if m.reverse {
			for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
				parts[i], parts[j] = parts[j], parts[i]
			}
		}
		if m.digits > 0 && m.digits < len(parts) {
			parts = parts[len(parts)-m.digits:]
		}
		v = strings.Join(parts, ".")
	}
	if m.upper {
		v = urlEscape(v)
	}
	return v
}

func splitAny(s, delims string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(delims, s[i]) >= 0 {
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// dotted is %{i}: an IPv4 address as is, an IPv6 address as 32 nibbles
// separated by dots (§7.3). The nibbles are upper case, as pyspf writes
// them and the RFC 7208 test suite's explanations expect; DNS names are
// case-insensitive, so a lookup finds the same records either way.
func dotted(ip netip.Addr) string {
	if ip.Is4() {
		return ip.String()
	}
	b := ip.As16()
	var s strings.Builder
	const hex = "0123456789ABCDEF"
	for i, x := range b {
		if i > 0 {
			s.WriteByte('.')
		}
		s.WriteByte(hex[x>>4])
		s.WriteByte('.')
		s.WriteByte(hex[x&15])
	}
	return s.String()
}

// urlEscape escapes all but RFC 3986's unreserved characters (§7.3).
func urlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
