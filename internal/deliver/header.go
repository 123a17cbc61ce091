package deliver

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"unicode"

	"github.com/emersion/go-message/textproto"

	"github.com/ebbmail/ebb/internal/bufpool"
)

const (
	maxHeaderBytes = 1 << 20  // what Message.Header holds at most
	maxFieldBytes  = 64 << 10 // one field in Message.Header at most
	peekFirstLine  = 1000     // RFC 5322 §2.1.1: 998 + CRLF
)

// firstLine looks at the start of the message without consuming it.
// isHeader: the first line is a header field (or the empty line that ends an
// empty header); crlf: it ends with CRLF; mboxFrom: it is an mbox "From "
// envelope line that does not belong in a Maildir file.
func firstLine(br *bufio.Reader) (isHeader, crlf, mboxFrom, empty bool) {
	p, _ := br.Peek(peekFirstLine)
	if len(p) == 0 {
		return true, false, false, true
	}
	if bytes.HasPrefix(p, []byte("From ")) {
		return false, false, true, false
	}
	if i := bytes.IndexByte(p, '\n'); i >= 0 {
		crlf = i > 0 && p[i-1] == '\r'
		line := bytes.TrimRight(p[:i], "\r")
		if len(line) == 0 {
			return true, crlf, false, false
		}
		return isFieldStart(line), crlf, false, false
	}
	return isFieldStart(p), false, false, false
}

// isFieldStart reports whether line starts "name:" with a valid field name
// (RFC 5322 §3.6.8: printable ASCII except ":").
func isFieldStart(line []byte) bool {
	for i, c := range line {
		if c == ':' {
			return i > 0
		}
		if c < 33 || c > 126 {
			return false
		}
	}
	return false
}

// skipLine consumes one line of any length.
func skipLine(br *bufio.Reader) error {
	for {
		_, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue
		}
		return err
	}
}

// readLine returns one line without its line ending, cut at max bytes (the
// rest is consumed and dropped), and whether anything was read.
func readLine(br *bufio.Reader, max int) ([]byte, bool, error) {
	var line []byte
	read := false
	for {
		frag, err := br.ReadSlice('\n')
		if len(frag) > 0 {
			read = true
		}
		if room := max - len(line); room > 0 {
			if len(frag) > room {
				line = append(line, frag[:room]...)
			} else {
				line = append(line, frag...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		line = bytes.TrimRight(line, "\r\n")
		if err == io.EOF && read {
			err = nil
		}
		return line, read, err
	}
}

// field is one header field.
type field struct{ key, value string }

// scanHeader reads the header fields at the start of r: up to the empty
// line, the first line that is neither a field nor a continuation, or EOF.
// It bounds memory: each field at maxFieldBytes, all at maxHeaderBytes.
func scanHeader(r io.Reader) []field {
	br := bufpool.Reader(r)
	defer bufpool.PutReader(br) // fields hold copies (strings), never the buffer
	var fields []field
	total := 0
	for total < maxHeaderBytes {
		line, ok, err := readLine(br, maxFieldBytes)
		if !ok || len(line) == 0 {
			break
		}
		total += len(line)
		if line[0] == ' ' || line[0] == '\t' {
			if len(fields) == 0 {
				break // a continuation of nothing: not a header (firstLine agrees)
			}
			if n := len(fields); len(fields[n-1].value) < maxFieldBytes {
				fields[n-1].value += " " + strings.TrimSpace(string(line))
			}
		} else if isFieldStart(line) {
			i := bytes.IndexByte(line, ':')
			fields = append(fields, field{string(line[:i]), strings.TrimSpace(string(line[i+1:]))})
		} else {
			break
		}
		if err != nil {
			break
		}
	}
	return fields
}

// toHeader builds a go-message header in message order.
func toHeader(fields []field) textproto.Header {
	var h textproto.Header
	// textproto.Header keeps its list bottom-up: add the last field first.
	for i := len(fields) - 1; i >= 0; i-- {
		h.Add(fields[i].key, fields[i].value)
	}
	return h
}

// checkHeaderLine validates a header line that ebb is asked to prepend
// (-A "Name: value"): a valid name, no line breaks.
func checkHeaderLine(s string) error {
	if strings.ContainsAny(s, "\r\n\x00") {
		return errors.New("a header line may not contain a line break or NUL")
	}
	// RFC 5322 §2.2: a field body is printable characters and white
	// space; another control character (an escape sequence) is refused.
	if strings.IndexFunc(s, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }) >= 0 {
		return errors.New("a header line may not contain a control character")
	}
	if !isFieldStart([]byte(s)) {
		return errors.New(`a header line must look like "Name: value"`)
	}
	return nil
}

// bareAddress strips angle brackets and spaces and lower-cases, for
// comparing Delivered-To values.
func bareAddress(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "<")
	s = strings.TrimSuffix(s, ">")
	return strings.ToLower(strings.TrimSpace(s))
}
