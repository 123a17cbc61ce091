package sieve

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// str is a compiled string argument: a constant, or (with the variables
// extension, RFC 5229 §3) literal parts and variable references.
type str struct {
	lit   string
	parts []strPart // nil: constant lit
}

type strPart struct {
	lit    string
	name   string // variable name, lower-cased; "" for a literal part
	num    int    // match variable number when isNum
	isNum  bool
	global bool
}

func (s *str) isConst() bool { return s.parts == nil }

// compileStr turns a source string into a str: encoded-character (RFC 5228
// §2.4.2.4) is decoded first, then variable references are found.
func (c *compiler) compileStr(src string) str {
	if c.has("encoded-character") {
		var bad []rune
		src, bad = decodeEncodedChars(src)
		for _, r := range bad {
			c.errorf(c.strPos, "invalid unicode character 0x%08x in encoded character substitution", r)
		}
	}
	if !c.has("variables") || !strings.Contains(src, "${") {
		return str{lit: src}
	}
	var parts []strPart
	var lit strings.Builder
	i := 0
	for i < len(src) {
		j := strings.Index(src[i:], "${")
		if j < 0 {
			lit.WriteString(src[i:])
			break
		}
		lit.WriteString(src[i : i+j])
		i += j
		end := strings.IndexByte(src[i+2:], '}')
		if end < 0 {
			lit.WriteString(src[i:])
			break
		}
		ref := src[i+2 : i+2+end]
		p, ok := c.parseVarRef(ref)
		if !ok {
			// Not a valid reference: "${" is literal text (RFC 5229 §3).
			lit.WriteString("${")
			i += 2
			continue
		}
		if lit.Len() > 0 {
			parts = append(parts, strPart{lit: lit.String()})
			lit.Reset()
		}
		parts = append(parts, p)
		i += 2 + end + 1
	}
	if lit.Len() > 0 {
		parts = append(parts, strPart{lit: lit.String()})
	}
	if len(parts) == 0 {
		return str{lit: ""}
	}
	if len(parts) == 1 && parts[0].name == "" && !parts[0].isNum {
		return str{lit: parts[0].lit}
	}
	return str{parts: parts}
}

// parseVarRef parses the inside of ${...}: a number (match variable) or an
// identifier, optionally namespaced ("global.name", RFC 6609 §3.5).
func (c *compiler) parseVarRef(ref string) (strPart, bool) {
	if ref == "" {
		return strPart{}, false
	}
	if isDigit(ref[0]) {
		n := 0
		for i := 0; i < len(ref); i++ {
			if !isDigit(ref[i]) {
				return strPart{}, false
			}
			if n < 1000 {
				n = n*10 + int(ref[i]-'0')
			}
		}
		return strPart{num: n, isNum: true}, true
	}
	name := lower(ref)
	segs := strings.Split(name, ".")
	for _, s := range segs {
		if !validIdent(s) {
			return strPart{}, false
		}
	}
	if len(segs) == 2 && segs[0] == "global" && c.has("include") {
		return strPart{name: segs[1], global: true}, true
	}
	if len(segs) > 1 {
		// An unknown namespace: the reference expands to nothing.
		return strPart{name: "\x00" + name}, true
	}
	return strPart{name: name, global: c.globals[name]}, true
}

func validIdent(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isAlpha(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func (c *compiler) compileList(a *arg) []str {
	out := make([]str, len(a.strs))
	for i, s := range a.strs {
		out[i] = c.compileStr(s)
	}
	return out
}

// decodeEncodedChars replaces ${hex:...} and ${unicode:...} (RFC 5228
// §2.4.2.4). Malformed encodings are left as they are.
func decodeEncodedChars(s string) (string, []rune) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var bad []rune
	var b strings.Builder
	i := 0
	for {
		j := strings.Index(s[i:], "${")
		if j < 0 {
			b.WriteString(s[i:])
			return b.String(), bad
		}
		b.WriteString(s[i : i+j])
		i += j
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			b.WriteString(s[i:])
			return b.String(), bad
		}
		inner := s[i+2 : i+end]
		if dec, r, ok := decodeEncoded(inner); r != 0 {
			bad = append(bad, r)
			i += end + 1
			continue
		} else if ok {
			b.WriteString(dec)
			i += end + 1
			continue
		}
		b.WriteString("${")
		i += 2
	}
}

// decodeEncoded decodes the inside of ${...}; bad is a code point that is
// not a Unicode scalar value (an error in Pigeonhole, RFC 5228 §2.4.2.4).
func decodeEncoded(inner string) (s string, bad rune, ok bool) {
	colon := strings.IndexByte(inner, ':')
	if colon < 0 {
		return "", 0, false
	}
	kind := lower(inner[:colon])
	if kind != "hex" && kind != "unicode" {
		return "", 0, false
	}
	fields := strings.FieldsFunc(inner[colon+1:], func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' })
	if len(fields) == 0 {
		return "", 0, false
	}
	var b strings.Builder
	for _, f := range fields {
		if kind == "hex" {
			// hex-pair = 1*2HEXDIG
			if len(f) > 2 {
				return "", 0, false
			}
			x, err := strconv.ParseUint(f, 16, 8)
			if err != nil {
				return "", 0, false
			}
			b.WriteByte(byte(x))
			continue
		}
		if len(f) > 8 {
			return "", 0, false
		}
		v, err := strconv.ParseUint(f, 16, 32)
		if err != nil {
			return "", 0, false
		}
		r := rune(v)
		if !utf8.ValidRune(r) {
			return "", rune(v), false
		}
		b.WriteRune(r)
	}
	return b.String(), 0, true
}

// expand evaluates a str in the current run.
func (r *run) expand(s *str) string {
	if s.parts == nil {
		return s.lit
	}
	var b strings.Builder
	for _, p := range s.parts {
		switch {
		case p.isNum:
			if p.num < len(r.match) {
				b.WriteString(r.match[p.num])
			}
		case p.name != "":
			b.WriteString(r.getVar(p.name, p.global))
		default:
			b.WriteString(p.lit)
		}
	}
	return b.String()
}

func (r *run) expandList(l []str) []string {
	out := make([]string, len(l))
	for i := range l {
		out[i] = r.expand(&l[i])
	}
	return out
}
