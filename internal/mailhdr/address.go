package mailhdr

import (
	"strings"
)

// Address is one mailbox of an address list (RFC 5322 §3.4).
type Address struct {
	// Name is the display name, encoded words decoded (RFC 2047 §5 (3))
	// into UTF-8, white space between words made one space; "" for none.
	Name string
	// Local is the local part, unquoted ("john doe" for "john doe"@x).
	Local string
	// Domain is the domain as written, comments and folding white space
	// removed: a dot-atom ("example.org"), or a domain literal with its
	// brackets ("[192.0.2.1]"). Case is kept.
	Domain string
	// Group is the display name of the group the mailbox is listed in
	// (RFC 5322 §3.4 group), "" outside a group.
	Group string
}

// Spec is the addr-spec, local@domain, with the local part quoted when
// it is not a dot-atom (RFC 5322 §3.4.1).
func (a Address) Spec() string {
	return QuoteLocal(a.Local) + "@" + a.Domain
}

// QuoteLocal writes a local part as RFC 5322 §3.4.1 wants it: a dot-atom
// as it is, anything else as a quoted-string.
func QuoteLocal(l string) string {
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
		if s[i] != '.' && !isAtext(s[i]) {
			return false
		}
	}
	return true
}

// SyntaxError is an address list some of whose items are not addresses.
// The addresses that could be read are returned beside it.
type SyntaxError struct {
	// Items are the items that could not be read, as written (comments
	// and all), in order.
	Items []string
	// Reasons say why, one per item.
	Reasons []string
	// At says where each item stood: how many of the addresses returned
	// come before it.
	At []int
}

func (e *SyntaxError) Error() string {
	var b strings.Builder
	for i, it := range e.Items {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(quoteItem(it))
		b.WriteString(": ")
		b.WriteString(e.Reasons[i])
	}
	return b.String()
}

// quoteItem shows an item in an error (which may end up in a header
// field): quoted, control characters written as \xNN, cut at 80 bytes.
func quoteItem(s string) string {
	cut := len(s) > 80
	if cut {
		s = s[:80]
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			b.WriteString(quoteByte(c))
		} else {
			b.WriteByte(c)
		}
	}
	if cut {
		b.WriteString("…")
	}
	b.WriteByte('"')
	return strings.ToValidUTF8(b.String(), "?")
}

// ParseAddressList reads an address list (RFC 5322 §3.4) with everything
// a receiver must accept: comments and folding white space anywhere
// between tokens (§3.2.2, and §4.4's CFWS around the dots of local parts
// and domains), groups, quoted local parts, domain literals, §4's
// obsolete forms (obs-phrase, obs-local-part, obs-domain, obs-route, empty
// list elements), and UTF-8 wherever RFC 6532 §3.2 allows it. Display
// names are decoded (RFC 2047) with any charset CharsetReader knows; a
// word that cannot be decoded stays as written. It never fails for a
// charset.
//
// Items that are not addresses ("root", "a@b <c@d>", an unterminated
// quote) are skipped to the next comma and reported in a *SyntaxError;
// the addresses that could be read are returned with it. An empty list
// gives no addresses and no error.
func ParseAddressList(v string) ([]Address, error) {
	p := &addrParser{s: v, toks: tokenize(v)}
	return p.list()
}

// token kinds
const (
	tAtom    = iota // 1*atext (and UTF-8, RFC 6532)
	tQuoted         // a quoted-string; text is its content, unescaped
	tLiteral        // a domain literal, "[...]", white space removed
	tSpecial        // one of . @ < > : ; ,
	tBad            // anything else: why is in text
)

type token struct {
	kind       int
	text       string
	start, end int  // where it stands in the input
	space      bool // white space or a comment came before it
}

func isAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c >= 0x80:
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// tokenize splits v into tokens, dropping CFWS (RFC 5322 §3.2.2).
func tokenize(v string) []token {
	var toks []token
	space := false
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case isWSP(c):
			space = true
			i++
			continue
		case c == '(':
			end, ok := skipComment(v, i)
			if !ok {
				toks = append(toks, token{kind: tBad, text: "a comment is not closed", start: i, end: len(v), space: space})
				return toks
			}
			i, space = end, true
			continue
		case c == '"':
			text, end, ok := quotedString(v, i)
			if !ok {
				toks = append(toks, token{kind: tBad, text: "a quoted string is not closed", start: i, end: len(v), space: space})
				return toks
			}
			toks = append(toks, token{kind: tQuoted, text: text, start: i, end: end, space: space})
			i = end
		case c == '[':
			text, end, ok := domainLiteral(v, i)
			if !ok {
				toks = append(toks, token{kind: tBad, text: "a domain literal is not closed", start: i, end: len(v), space: space})
				return toks
			}
			toks = append(toks, token{kind: tLiteral, text: text, start: i, end: end, space: space})
			i = end
		case strings.IndexByte(".@<>:;,", c) >= 0:
			toks = append(toks, token{kind: tSpecial, text: v[i : i+1], start: i, end: i + 1, space: space})
			i++
		case isAtext(c):
			j := i
			for j < len(v) && isAtext(v[j]) {
				j++
			}
			toks = append(toks, token{kind: tAtom, text: v[i:j], start: i, end: j, space: space})
			i = j
		default:
			toks = append(toks, token{kind: tBad, text: "the character " + quoteByte(c) + " is not allowed here", start: i, end: i + 1, space: space})
			i++
		}
		space = false
	}
	return toks
}

func quoteByte(c byte) string {
	if c < 0x20 || c == 0x7f {
		return "\\x" + string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&15])
	}
	return "'" + string(c) + "'"
}

// skipComment returns the index after the comment at v[i] (nested, with
// quoted pairs: RFC 5322 §3.2.2).
func skipComment(v string, i int) (int, bool) {
	depth := 0
	for ; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		}
	}
	return len(v), false
}

// quotedString reads the quoted-string at v[i]: its content with quoted
// pairs resolved (RFC 5322 §3.2.4, §4.1's obs-qp) and folding removed.
func quotedString(v string, i int) (string, int, bool) {
	var b strings.Builder
	for j := i + 1; j < len(v); j++ {
		switch c := v[j]; c {
		case '\\':
			if j+1 < len(v) {
				j++
				b.WriteByte(v[j])
			}
		case '"':
			return b.String(), j + 1, true
		case '\r', '\n':
			// Folding inside the quotes is not part of the content.
		default:
			b.WriteByte(c)
		}
	}
	return "", len(v), false
}

// domainLiteral reads "[...]" at v[i] (RFC 5322 §3.4.1, §4.4's obs-dtext),
// white space removed.
func domainLiteral(v string, i int) (string, int, bool) {
	var b strings.Builder
	b.WriteByte('[')
	for j := i + 1; j < len(v); j++ {
		switch c := v[j]; {
		case c == '\\' && j+1 < len(v):
			j++
			b.WriteByte(v[j])
		case c == ']':
			b.WriteByte(']')
			return b.String(), j + 1, true
		case c == '[':
			return "", len(v), false
		case isWSP(c):
		default:
			b.WriteByte(c)
		}
	}
	return "", len(v), false
}

type addrParser struct {
	s    string
	toks []token
	pos  int
	out  []Address
	bad  *SyntaxError
}

func (p *addrParser) peek() *token {
	if p.pos < len(p.toks) {
		return &p.toks[p.pos]
	}
	return nil
}

func (p *addrParser) isSpecial(c string) bool {
	t := p.peek()
	return t != nil && t.kind == tSpecial && t.text == c
}

// list reads the whole address list (obs-addr-list: empty elements are
// allowed, RFC 5322 §4.4).
func (p *addrParser) list() ([]Address, error) {
	for p.pos < len(p.toks) {
		if p.isSpecial(",") {
			p.pos++
			continue
		}
		start, n := p.pos, len(p.out)
		why := p.address("")
		if why == "" && p.pos < len(p.toks) && !p.isSpecial(",") {
			why = badText(p.toks[p.pos], "text after the address")
		}
		if why != "" {
			// An item that is not an address gives none, even when an
			// address could be read from its start.
			p.out = p.out[:n]
			p.recover(start, why, false)
		}
	}
	if p.bad != nil {
		return p.out, p.bad
	}
	return p.out, nil
}

// recover skips to the next comma outside angle brackets (or, inside a
// group, to its ";") and records the item from start as unreadable.
func (p *addrParser) recover(start int, why string, inGroup bool) {
	angle := false
	for p.pos < len(p.toks) {
		t := &p.toks[p.pos]
		if t.kind == tSpecial {
			switch t.text {
			case "<":
				angle = true
			case ">":
				angle = false
			case ",":
				if !angle {
					goto done
				}
			case ";":
				if !angle && inGroup {
					goto done
				}
			}
		}
		p.pos++
	}
done:
	end := len(p.s)
	if p.pos < len(p.toks) {
		end = p.toks[p.pos].start
	}
	from := p.toks[min(start, len(p.toks)-1)].start
	if p.bad == nil {
		p.bad = &SyntaxError{}
	}
	p.bad.Items = append(p.bad.Items, strings.TrimSpace(p.s[from:end]))
	p.bad.Reasons = append(p.bad.Reasons, why)
	p.bad.At = append(p.bad.At, len(p.out))
}

// phraseEnd returns the index after the run of words and dots at pos.
func (p *addrParser) phraseEnd() int {
	i := p.pos
	for i < len(p.toks) {
		t := p.toks[i]
		if t.kind == tAtom || t.kind == tQuoted || (t.kind == tSpecial && t.text == ".") {
			i++
			continue
		}
		break
	}
	return i
}

// address reads one address (a mailbox, or a group when group is "");
// it returns why not, or "".
func (p *addrParser) address(group string) string {
	end := p.phraseEnd()
	if end >= len(p.toks) {
		if end == p.pos {
			return "no address"
		}
		return "a name without an address"
	}
	next := p.toks[end]
	if next.kind != tSpecial {
		return badText(next, "")
	}
	switch next.text {
	case "<":
		name, why := p.phrase(p.pos, end, true)
		if why != "" {
			return why
		}
		p.pos = end + 1
		a, why := p.angleAddr()
		if why != "" {
			return why
		}
		a.Name, a.Group = name, group
		p.out = append(p.out, a)
		return ""
	case "@":
		local, why := p.localPart(p.pos, end)
		if why != "" {
			return why
		}
		p.pos = end + 1
		domain, why := p.domain()
		if why != "" {
			return why
		}
		p.out = append(p.out, Address{Local: local, Domain: domain, Group: group})
		return ""
	case ":":
		if group != "" {
			return "a group inside a group"
		}
		name, why := p.phrase(p.pos, end, false)
		if why != "" {
			return why
		}
		p.pos = end + 1
		return p.groupList(name)
	}
	if end == p.pos {
		return badText(next, "no address")
	}
	return "a name without an address"
}

func badText(t token, why string) string {
	if t.kind == tBad {
		return t.text
	}
	if why != "" {
		return why
	}
	return "unexpected " + quoteItem(t.text)
}

// groupList reads the mailboxes of a group up to its ";" (RFC 5322 §3.4
// group-list, with obs-group-list's empty elements).
func (p *addrParser) groupList(name string) string {
	for {
		t := p.peek()
		switch {
		case t == nil:
			return "the group " + quoteItem(name) + " is not closed with ';'"
		case t.kind == tSpecial && t.text == ";":
			p.pos++
			return ""
		case t.kind == tSpecial && t.text == ",":
			p.pos++
			continue
		}
		start, n := p.pos, len(p.out)
		why := p.address(name)
		if t := p.peek(); why == "" && t != nil && !(t.kind == tSpecial && (t.text == "," || t.text == ";")) {
			why = badText(*t, "text after the address")
		}
		if why != "" {
			p.out = p.out[:n]
			p.recover(start, why, true)
		}
	}
}

// phrase makes the display name of toks[from:to] (RFC 5322 §3.2.5 phrase
// and obs-phrase: words and dots; a dot first, which obs-phrase does not
// allow, is taken too, as net/mail and mail readers do). empty allows no
// words at all (a bare angle address).
func (p *addrParser) phrase(from, to int, empty bool) (string, string) {
	if from == to {
		if empty {
			return "", ""
		}
		return "", "a group without a name"
	}
	var b strings.Builder
	prevEncoded := false
	for i := from; i < to; i++ {
		t := p.toks[i]
		text, encoded := t.text, false
		if t.kind == tAtom {
			text, encoded = decodeWord(t.text)
		}
		if i > from && t.space && !(encoded && prevEncoded) {
			b.WriteByte(' ')
		}
		b.WriteString(text)
		prevEncoded = encoded
	}
	return b.String(), ""
}

// localPart makes the local part of toks[from:to]: word *("." word)
// (RFC 5322 §3.4.1 dot-atom, quoted-string, and §4.4 obs-local-part).
func (p *addrParser) localPart(from, to int) (string, string) {
	if from == to {
		return "", "an address without a local part"
	}
	var b strings.Builder
	wantWord := true
	for i := from; i < to; i++ {
		t := p.toks[i]
		isWord := t.kind != tSpecial
		if isWord != wantWord {
			return "", "a local part with an empty part between dots"
		}
		b.WriteString(t.text)
		wantWord = !wantWord
	}
	if wantWord {
		return "", "a local part ending in '.'"
	}
	return b.String(), ""
}

// domain reads a domain at pos: atom *("." atom) (dot-atom and §4.4's
// obs-domain) or a domain literal.
func (p *addrParser) domain() (string, string) {
	t := p.peek()
	if t == nil {
		return "", "an address without a domain"
	}
	if t.kind == tLiteral {
		p.pos++
		return t.text, ""
	}
	var b strings.Builder
	for {
		t := p.peek()
		if t == nil || t.kind != tAtom {
			if t != nil && t.kind == tBad {
				return "", t.text
			}
			return "", "a domain with an empty label"
		}
		b.WriteString(t.text)
		p.pos++
		if !p.isSpecial(".") {
			return b.String(), ""
		}
		b.WriteByte('.')
		p.pos++
	}
}

// angleAddr reads what follows "<": an optional obs-route (RFC 5322
// §4.4), the addr-spec and ">".
func (p *addrParser) angleAddr() (Address, string) {
	if p.isSpecial("@") || p.isSpecial(",") {
		// obs-route: *(CFWS / ",") "@" domain *("," [CFWS] ["@" domain]) ":"
		for {
			switch {
			case p.isSpecial(","):
				p.pos++
			case p.isSpecial("@"):
				p.pos++
				if _, why := p.domain(); why != "" {
					return Address{}, "a source route: " + why
				}
			case p.isSpecial(":"):
				p.pos++
				goto spec
			default:
				return Address{}, "a source route not ended by ':'"
			}
		}
	}
spec:
	if p.isSpecial(">") {
		return Address{}, "an empty address <>"
	}
	end := p.phraseEnd()
	if end >= len(p.toks) || p.toks[end].kind != tSpecial || p.toks[end].text != "@" {
		if end < len(p.toks) && p.toks[end].kind == tBad {
			return Address{}, p.toks[end].text
		}
		return Address{}, "an address without '@' in <>"
	}
	local, why := p.localPart(p.pos, end)
	if why != "" {
		return Address{}, why
	}
	p.pos = end + 1
	domain, why := p.domain()
	if why != "" {
		return Address{}, why
	}
	if !p.isSpecial(">") {
		return Address{}, "an address not closed with '>'"
	}
	p.pos++
	return Address{Local: local, Domain: domain}, ""
}
