package msgauth

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// MaxHeaderBytes bounds the header held in memory for the checks and for
// signing. Real headers are a few KiB (a long Received chain is 20 KiB);
// a message whose header is larger is not verified (dkim=permerror) nor
// signed, and that is said.
const MaxHeaderBytes = 1 << 20

// errHeaderTooLarge: the header passed MaxHeaderBytes.
var errHeaderTooLarge = errors.New("the message header is larger than 1 MiB")

// field is one header field: its name and its value as written (folding
// kept, without the final line end).
type field struct {
	name  string
	value string
}

// unfolded is the value with folding line ends removed (RFC 5322 §2.2.3).
func (f field) unfolded() string {
	v := strings.ReplaceAll(f.value, "\r\n", "")
	return strings.ReplaceAll(v, "\n", "")
}

// readHeader reads the header fields at the start of r, up to the empty
// line, the end, or the first line that is neither a field nor a
// continuation (then the body starts there, as in deliver's reading).
func readHeader(r io.Reader) ([]field, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var fields []field
	var cur *strings.Builder
	var name string
	total := 0
	flush := func() {
		if cur != nil {
			fields = append(fields, field{name: name, value: strings.TrimRight(cur.String(), "\r\n")})
			cur = nil
		}
	}
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: collect it whole (bounded by
			// MaxHeaderBytes below).
			long := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull && len(long) <= MaxHeaderBytes {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		total += len(line)
		if total > MaxHeaderBytes {
			return fields, errHeaderTooLarge
		}
		if len(line) > 0 {
			trimmed := bytes.TrimRight(line, "\r\n")
			switch {
			case len(trimmed) == 0:
				flush()
				return fields, nil
			case line[0] == ' ' || line[0] == '\t':
				if cur != nil {
					cur.Write(line)
				}
			default:
				i := bytes.IndexByte(trimmed, ':')
				if i <= 0 || !isFieldName(trimmed[:i]) {
					flush()
					return fields, nil
				}
				flush()
				name = string(trimmed[:i])
				cur = &strings.Builder{}
				cur.Write(line[i+1:])
			}
		}
		if err == io.EOF {
			flush()
			return fields, nil
		}
		if err != nil {
			return fields, err
		}
	}
}

// isFieldName: RFC 5322 §3.6.8, printable US-ASCII except ":".
func isFieldName(b []byte) bool {
	for _, c := range b {
		if c < 33 || c > 126 {
			return false
		}
	}
	return len(b) > 0
}

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

// isAuthResults reports whether a field name is Authentication-Results.
func isAuthResults(name string) bool {
	return strings.EqualFold(strings.TrimSpace(name), "Authentication-Results")
}

// maxBlankRun bounds a run of line ends and white space in a body being
// verified: go-msgauth's relaxed body canonicalizer holds such a run in
// memory until it knows whether text follows (trailing empty lines are
// not hashed, RFC 6376 §3.4.4), so a body of 50 MiB of empty lines would
// be held whole, once per signature.
const maxBlankRun = 1 << 20

// errBlankRun says why such a body is not verified.
var errBlankRun = errors.New("the body has more than 1 MiB of consecutive empty lines or white space; not verified")

// blankRunReader ends the stream (io.EOF, and over set) once a run of CR,
// LF, SP and HT passes maxBlankRun. It ends it rather than failing it:
// go-msgauth's parallel verification leaves its goroutines blocked when
// the reader fails, while an early end only makes the body hashes differ.
type blankRunReader struct {
	r    io.Reader
	run  int
	over bool
}

func (b *blankRunReader) Read(p []byte) (int, error) {
	if b.over {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	for i, c := range p[:n] {
		switch c {
		case '\r', '\n', ' ', '\t':
			b.run++
			if b.run > maxBlankRun {
				b.over = true
				return i, io.EOF
			}
		default:
			b.run = 0
		}
	}
	return n, err
}
