package sendmail

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ebbmail/ebb/internal/mailhdr"
)

// MaxHeaderBytes bounds the header block sendmail holds in memory to read
// recipients (-t) and to add missing fields. The body is streamed.
const MaxHeaderBytes = 1 << 20

// ErrHeaderTooLarge is a header block larger than MaxHeaderBytes.
var ErrHeaderTooLarge = fmt.Errorf("the header block is larger than %d bytes", MaxHeaderBytes)

// Header is the header block of a message, read by mailhdr (the reader
// every part of ebb uses): where it ends, what a field is, an mbox line
// dropped. When it ends at a line that is no field (or the message has
// none), that line stays the first of the body and WriteTo writes the
// empty line before it, as Postfix's cleanup does.
type Header struct {
	Fields []mailhdr.Field
}

// ReadHeader reads the header block from r, leaving r at the body. Fields
// are held whole, at most MaxHeaderBytes in all (ErrHeaderTooLarge).
func ReadHeader(r *bufio.Reader) (*Header, error) {
	h := &Header{}
	s := mailhdr.NewScanner(r)
	s.SetMaxField(MaxHeaderBytes + 1)
	total := 0
	for s.Scan() {
		f := s.Field()
		if total += len(f.Raw); total > MaxHeaderBytes || f.Truncated {
			return nil, ErrHeaderTooLarge
		}
		h.Fields = append(h.Fields, f)
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return h, nil
}

// Get returns the value of the first field named name (case-insensitive),
// unfolded.
func (h *Header) Get(name string) (string, bool) {
	for _, f := range h.Fields {
		if f.Is(name) {
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
	h.Fields = append(h.Fields, mailhdr.NewField(name+": "+value+"\n"))
}

// Remove deletes every field named name.
func (h *Header) Remove(name string) {
	kept := h.Fields[:0]
	for _, f := range h.Fields {
		if !f.Is(name) {
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
			if f.Is(n) {
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

// WriteTo writes the header block and the empty line that ends it; the
// body follows from the reader ReadHeader read from.
func (h *Header) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	for _, f := range h.Fields {
		b.Write(f.Raw)
		if !bytes.HasSuffix(f.Raw, []byte("\n")) {
			b.WriteString("\n") // the input ended inside the header
		}
	}
	b.WriteString("\n")
	n, err := w.Write(b.Bytes())
	return int64(n), err
}
