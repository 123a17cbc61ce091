package sendmail

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxHeaderBytes bounds the header block sendmail holds in memory to read
// recipients (-t) and to add missing fields. The body is streamed.
const MaxHeaderBytes = 1 << 20

// ErrHeaderTooLarge is a header block larger than MaxHeaderBytes.
var ErrHeaderTooLarge = fmt.Errorf("the header block is larger than %d bytes", MaxHeaderBytes)

// Field is one header field as written, continuation lines included, each
// line ending in LF.
type Field struct {
	Name string // as written, e.g. "Subject"
	Raw  string // "Subject: hello\n\tworld\n"
}

// Value is the field's value with folding undone.
func (f Field) Value() string {
	v := f.Raw[strings.IndexByte(f.Raw, ':')+1:]
	v = strings.ReplaceAll(v, "\n", "")
	return strings.TrimSpace(v)
}

// Header is the header block of a message.
type Header struct {
	Fields []Field
	// Body is what has been read past the header: the first body line when
	// the header ended without an empty line (so one must be added).
	bodyStart []byte
	// separator is false when the input had no empty line after the header.
	separator bool
}

// ReadHeader reads the header block from r. A leading mbox "From " line is
// dropped. The header ends at an empty line, or at the first line that is
// not a header field (that line is then the start of the body, and an empty
// line is inserted before it when the message is written).
func ReadHeader(r *bufio.Reader) (*Header, error) {
	h := &Header{}
	total := 0
	first := true
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer cannot be a header field we
			// want to keep in memory: it starts the body.
			h.bodyStart = append([]byte(nil), line...)
			return h, nil
		}
		if len(line) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return h, nil
			}
			return nil, err
		}
		total += len(line)
		if total > MaxHeaderBytes {
			return nil, ErrHeaderTooLarge
		}
		s := string(line)
		if !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		if first && strings.HasPrefix(s, "From ") {
			first = false
			continue
		}
		first = false
		switch {
		case s == "\n":
			h.separator = true
			return h, nil
		case (s[0] == ' ' || s[0] == '\t') && len(h.Fields) > 0:
			h.Fields[len(h.Fields)-1].Raw += s
		case isFieldLine(s):
			h.Fields = append(h.Fields, Field{Name: s[:strings.IndexByte(s, ':')], Raw: s})
		default:
			h.bodyStart = []byte(s)
			return h, nil
		}
		if err != nil {
			return h, nil
		}
	}
}

// isFieldLine reports whether s starts a header field: a name of printable
// ASCII without space or colon, then a colon (RFC 5322 §2.2).
func isFieldLine(s string) bool {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return false
	}
	for j := 0; j < i; j++ {
		if s[j] <= ' ' || s[j] > '~' {
			return false
		}
	}
	return true
}

// Get returns the value of the first field named name (case-insensitive).
func (h *Header) Get(name string) (string, bool) {
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			return f.Value(), true
		}
	}
	return "", false
}

// Has reports whether a field named name exists.
func (h *Header) Has(name string) bool {
	_, ok := h.Get(name)
	return ok
}

// Add appends a field.
func (h *Header) Add(name, value string) {
	h.Fields = append(h.Fields, Field{Name: name, Raw: name + ": " + value + "\n"})
}

// Remove deletes every field named name.
func (h *Header) Remove(name string) {
	kept := h.Fields[:0]
	for _, f := range h.Fields {
		if !strings.EqualFold(f.Name, name) {
			kept = append(kept, f)
		}
	}
	h.Fields = kept
}

// Recipients returns the addresses of the recipient fields for -t: Resent-To,
// Resent-Cc and Resent-Bcc when the message has Resent- fields (it is being
// resent, RFC 5322 §3.6.6), else To, Cc and Bcc.
func (h *Header) Recipients() []string {
	names := []string{"To", "Cc", "Bcc"}
	for _, f := range h.Fields {
		switch strings.ToLower(f.Name) {
		case "resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc", "resent-date", "resent-message-id":
			names = []string{"Resent-To", "Resent-Cc", "Resent-Bcc"}
		}
	}
	var out []string
	for _, f := range h.Fields {
		for _, n := range names {
			if strings.EqualFold(f.Name, n) {
				out = append(out, ParseAddressList(f.Value())...)
			}
		}
	}
	return out
}

// RemoveBcc deletes Bcc and Resent-Bcc: their addresses get the message but
// must not be shown to the other recipients (RFC 5322 §3.6.3).
func (h *Header) RemoveBcc() {
	h.Remove("Bcc")
	h.Remove("Resent-Bcc")
}

// Fixup is what sendmail adds to a message that lacks it.
type Fixup struct {
	Now      time.Time
	Hostname string // for Message-ID
	// From is the address for a missing From: (the envelope sender, or the
	// login user when the sender is null).
	From     string
	FullName string
}

// Apply adds Date, Message-ID and From when missing (RFC 5322 §3.6 requires
// Date and From; Message-ID SHOULD be present). Added fields go after the
// existing ones, as Postfix's cleanup does.
func (h *Header) Apply(f Fixup) {
	if !h.Has("From") {
		h.Add("From", FormatMailbox(f.FullName, f.From))
	}
	if !h.Has("Date") {
		h.Add("Date", f.Now.Format(time.RFC1123Z))
	}
	if !h.Has("Message-ID") {
		var b [8]byte
		_, _ = rand.Read(b[:])
		h.Add("Message-ID", fmt.Sprintf("<%s.%s@%s>", f.Now.UTC().Format("20060102150405"), hex.EncodeToString(b[:]), f.Hostname))
	}
}

// FormatMailbox renders a From: value: "Name <addr>", or "addr" without a
// name. A name with specials is quoted (RFC 5322 §3.2.3); a non-ASCII name
// is written as it is (RFC 6532 §3.2), which SMTPUTF8-era readers accept.
// What no header may carry is dropped from the name: control characters
// (CR, LF, ESC, \x01 from -F or $NAME) and invalid UTF-8.
func FormatMailbox(name, addr string) string {
	name = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, "")))
	if name == "" {
		return addr
	}
	if strings.ContainsAny(name, "()<>[]:;@\\,.\"") {
		name = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
	}
	return name + " <" + addr + ">"
}

// WriteTo writes the header block and the empty line that ends it, then the
// part of the body already read.
func (h *Header) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	for _, f := range h.Fields {
		b.WriteString(f.Raw)
	}
	b.WriteString("\n")
	b.Write(h.bodyStart)
	n, err := w.Write(b.Bytes())
	return int64(n), err
}
