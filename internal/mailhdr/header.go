package mailhdr

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
)

// Header is a message's header held in memory, as Scanner reads it.
type Header struct {
	Fields []Field
	// Size is how many bytes of the input the header took (an mbox line,
	// the fields and the empty line): where the body starts.
	Size int64
	// Separator is the empty line that ended the header (nil: none).
	Separator []byte
	// NoHeader: the message has no header (Scanner.NoHeader).
	NoHeader bool
}

// ErrTooLarge is a header whose fields pass the bound given to Read.
var ErrTooLarge = errors.New("the message header is too large")

// Read reads the header from br into memory, at most max bytes of fields
// (Raw, each field up to MaxField): past that it returns what it read and
// an error wrapping ErrTooLarge, and br is left inside the header. br is
// at the start of the body otherwise.
func Read(br *bufio.Reader, max int) (*Header, error) {
	h := &Header{}
	s := NewScanner(br)
	total := 0
	for s.Scan() {
		f := s.Field()
		total += len(f.Raw)
		if total > max {
			return h, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
		}
		h.Fields = append(h.Fields, f)
	}
	h.Size, h.Separator, h.NoHeader = s.Offset(), s.Separator(), s.NoHeader()
	return h, s.Err()
}

// Get returns the first field named name.
func (h *Header) Get(name string) (Field, bool) {
	for _, f := range h.Fields {
		if f.Is(name) {
			return f, true
		}
	}
	return Field{}, false
}

// Value is the unfolded value of the first field named name ("" when
// there is none).
func (h *Header) Value(name string) string {
	f, _ := h.Get(name)
	return f.Value()
}

// Has reports whether a field named name exists.
func (h *Header) Has(name string) bool {
	_, ok := h.Get(name)
	return ok
}

// String is the header as written (the fields' Raw, without the empty
// line).
func (h *Header) String() string {
	var b strings.Builder
	for _, f := range h.Fields {
		b.Write(f.Raw)
	}
	return b.String()
}
