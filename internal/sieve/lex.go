package sieve

import (
	"fmt"
	"strings"
)

// tokenKind is the lexical class of a token (RFC 5228 §8.1).
type tokenKind int

const (
	tEOF tokenKind = iota
	tIdent
	tTag
	tNumber
	tString // quoted string or multi-line text:
	tSemicolon
	tComma
	tLBracket
	tRBracket
	tLBrace
	tRBrace
	tLParen
	tRParen
)

// Pos is a place in a script, 1-based.
type Pos struct{ Line, Col int }

type token struct {
	kind tokenKind
	pos  Pos
	text string // identifier/tag name (without ':'), string value
	num  int64
	// multiline marks text: strings, whose variable and encoded-character
	// handling is the same as quoted strings (RFC 5228 §2.4.2).
	multiline bool
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of file"
	case tIdent:
		return fmt.Sprintf("identifier '%s'", t.text)
	case tTag:
		return fmt.Sprintf("tag ':%s'", t.text)
	case tNumber:
		return fmt.Sprintf("number %d", t.num)
	case tString:
		if t.multiline {
			return "multi-line string"
		}
		return "string"
	}
	return fmt.Sprintf("'%s'", t.text)
}

// lexer turns script source into tokens. It works on bytes: Sieve scripts
// are UTF-8 (RFC 5228 §2.1) but only ASCII is significant to the grammar.
type lexer struct {
	src  []byte
	off  int
	line int
	col  int
	name string
}

func newLexer(name string, src []byte) *lexer {
	return &lexer{src: src, line: 1, col: 1, name: name}
}

func (l *lexer) errf(p Pos, format string, a ...any) error {
	return &CompileError{Script: l.name, Pos: p, Msg: fmt.Sprintf(format, a...)}
}

func (l *lexer) peekByte(i int) byte {
	if l.off+i < len(l.src) {
		return l.src[l.off+i]
	}
	return 0
}

func (l *lexer) advance() byte {
	c := l.src[l.off]
	l.off++
	if c == '\n' {
		l.line++
		l.col = 1
	} else {
		l.col++
	}
	return c
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skip passes over white space and comments.
func (l *lexer) skip() error {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.advance()
		case c == '#':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.advance()
			}
		case c == '/' && l.peekByte(1) == '*':
			p := Pos{l.line, l.col}
			l.advance()
			l.advance()
			for {
				if l.off >= len(l.src) {
					return l.errf(Pos{l.line, l.col}, "end of file before end of bracket comment ('*/') started at line %d", p.Line)
				}
				if l.src[l.off] == '*' && l.peekByte(1) == '/' {
					l.advance()
					l.advance()
					break
				}
				l.advance()
			}
		default:
			return nil
		}
	}
	return nil
}

func (l *lexer) next() (token, error) {
	if err := l.skip(); err != nil {
		return token{}, err
	}
	p := Pos{l.line, l.col}
	if l.off >= len(l.src) {
		return token{kind: tEOF, pos: p}, nil
	}
	c := l.src[l.off]
	single := map[byte]tokenKind{';': tSemicolon, ',': tComma, '[': tLBracket, ']': tRBracket,
		'{': tLBrace, '}': tRBrace, '(': tLParen, ')': tRParen}
	if k, ok := single[c]; ok {
		l.advance()
		return token{kind: k, pos: p, text: string(c)}, nil
	}
	switch {
	case c == '"':
		return l.quoted(p)
	case c == ':':
		l.advance()
		if l.off >= len(l.src) || !isAlpha(l.src[l.off]) {
			return token{}, l.errf(p, "expected a tag name after ':'")
		}
		return token{kind: tTag, pos: p, text: l.ident()}, nil
	case isDigit(c):
		return l.number(p)
	case isAlpha(c):
		id := l.ident()
		if strings.EqualFold(id, "text") && l.peekByte(0) == ':' {
			l.advance()
			return l.multiline(p)
		}
		return token{kind: tIdent, pos: p, text: id}, nil
	}
	if c < 0x20 || c >= 0x7f {
		return token{}, l.errf(p, "unexpected character 0x%02x", c)
	}
	return token{}, l.errf(p, "unexpected character '%c'", c)
}

func (l *lexer) ident() string {
	start := l.off
	for l.off < len(l.src) && (isAlpha(l.src[l.off]) || isDigit(l.src[l.off])) {
		l.advance()
	}
	return string(l.src[start:l.off])
}

// number reads 1*DIGIT [QUANTIFIER] (RFC 5228 §2.4.1). Values that do not fit
// in 63 bits are an error, as Pigeonhole's "number is out of range".
func (l *lexer) number(p Pos) (token, error) {
	var n uint64
	for l.off < len(l.src) && isDigit(l.src[l.off]) {
		d := uint64(l.advance() - '0')
		if n > (1<<63-1-d)/10 {
			return token{}, l.errf(p, "number is too large")
		}
		n = n*10 + d
	}
	shift := 0
	if l.off < len(l.src) {
		switch l.src[l.off] {
		case 'K', 'k':
			shift = 10
		case 'M', 'm':
			shift = 20
		case 'G', 'g':
			shift = 30
		}
		if shift > 0 {
			l.advance()
			if n > (1<<63-1)>>shift {
				return token{}, l.errf(p, "number is too large")
			}
			n <<= shift
		}
	}
	if l.off < len(l.src) && (isAlpha(l.src[l.off]) || isDigit(l.src[l.off])) {
		return token{}, l.errf(Pos{l.line, l.col}, "unexpected character '%c' after number", l.src[l.off])
	}
	return token{kind: tNumber, pos: p, num: int64(n)}, nil
}

// quoted reads a quoted string. "\\" and "\"" are escapes; any other
// backslash is dropped (RFC 5228 §2.4.2).
func (l *lexer) quoted(p Pos) (token, error) {
	l.advance() // opening quote
	var b strings.Builder
	for {
		if l.off >= len(l.src) {
			return token{}, l.errf(Pos{l.line, l.col}, "end of file before end of quoted string (missing '\"') started at line %d", p.Line)
		}
		c := l.advance()
		switch c {
		case '"':
			return token{kind: tString, pos: p, text: b.String()}, nil
		case '\\':
			if l.off >= len(l.src) {
				continue
			}
			b.WriteByte(l.advance())
		case '\r':
			// A bare CR inside a string is kept only as part of CRLF, so that
			// strings read the same from LF and CRLF files.
			if l.peekByte(0) == '\n' {
				l.advance()
				b.WriteString("\r\n")
			} else {
				b.WriteByte('\r')
			}
		case '\n':
			b.WriteString("\r\n")
		default:
			b.WriteByte(c)
		}
	}
}

// multiline reads the rest of a text: string (RFC 5228 §2.4.2): optional
// white space, an optional hash comment, CRLF, then lines up to a line holding
// only ".". A leading ".." is unstuffed to ".". Lines end in CRLF in the value.
func (l *lexer) multiline(p Pos) (token, error) {
	for l.off < len(l.src) && (l.src[l.off] == ' ' || l.src[l.off] == '\t') {
		l.advance()
	}
	if l.off < len(l.src) && l.src[l.off] == '#' {
		for l.off < len(l.src) && l.src[l.off] != '\n' {
			l.advance()
		}
	}
	if l.off < len(l.src) && l.src[l.off] == '\r' {
		l.advance()
	}
	if l.off >= len(l.src) || l.src[l.off] != '\n' {
		if l.off >= len(l.src) {
			return token{}, l.errf(p, "end of file in multi-line string")
		}
		return token{}, l.errf(Pos{l.line, l.col}, "expected end of line after 'text:', but found '%c'", l.src[l.off])
	}
	l.advance()
	var b strings.Builder
	for {
		if l.off >= len(l.src) {
			return token{}, l.errf(Pos{l.line, l.col}, "end of file before end of multi-line string (a line with a single '.') started at line %d", p.Line)
		}
		start := l.off
		for l.off < len(l.src) && l.src[l.off] != '\n' {
			l.advance()
		}
		line := l.src[start:l.off]
		if l.off < len(l.src) {
			l.advance()
		} else {
			// The last line must end with a newline; a "." without one still
			// ends the string, as Pigeonhole accepts it.
			if strings.TrimRight(string(line), "\r") != "." {
				return token{}, l.errf(p, "end of file before end of multi-line string (a line with a single '.')")
			}
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 1 && line[0] == '.' {
			return token{kind: tString, pos: p, text: b.String(), multiline: true}, nil
		}
		if len(line) > 1 && line[0] == '.' && line[1] == '.' {
			line = line[1:]
		}
		b.Write(line)
		b.WriteString("\r\n")
	}
}

// lexAll tokenizes a whole script; used by the fuzz target and tests.
func lexAll(name string, src []byte) ([]token, error) {
	l := newLexer(name, src)
	var out []token
	for {
		t, err := l.next()
		if err != nil {
			return out, err
		}
		out = append(out, t)
		if t.kind == tEOF {
			return out, nil
		}
	}
}
