package sieve

import (
	"io"
	"strings"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/mailhdr"
)

// MaxHeaderBytes bounds the header NewMessage holds in memory: the fields
// past it are not seen by the tests (the body still starts where the
// header ends). The body is never read into memory by NewMessage.
const MaxHeaderBytes = 4 << 20

// FileMessage is a Message over a file (or any io.ReaderAt): the header is
// read once, by mailhdr (the reader every part of ebb uses), the body is
// read from r on demand.
type FileMessage struct {
	r       io.ReaderAt
	size    int64
	header  []HeaderField
	bodyOff int64
}

// NewMessage reads the header of the message in r (size octets) and returns
// a Message whose Body reads from r. It accepts LF and CRLF line endings;
// where the header ends is mailhdr.Scanner's rule (an mbox "From " line
// skipped, the header ending at the empty line or before a line that is no
// field).
func NewMessage(r io.ReaderAt, size int64) (*FileMessage, error) {
	br := bufpool.Reader(io.NewSectionReader(r, 0, size))
	defer bufpool.PutReader(br) // the fields are copies
	m := &FileMessage{r: r, size: size}
	s := mailhdr.NewScanner(br)
	held := 0
	for s.Scan() {
		f := s.Field()
		if held += len(f.Raw); held > MaxHeaderBytes {
			continue
		}
		// Line ends inside the value as a message on the wire has them.
		v := strings.ReplaceAll(strings.ReplaceAll(f.RawValue(), "\r\n", "\n"), "\n", "\r\n")
		m.header = append(m.header, HeaderField{Name: f.Name, Value: v})
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	m.bodyOff = s.Offset()
	return m, nil
}

func (m *FileMessage) Header() []HeaderField { return m.header }
func (m *FileMessage) Size() int64           { return m.size }
func (m *FileMessage) Body() (io.Reader, error) {
	return io.NewSectionReader(m.r, m.bodyOff, m.size-m.bodyOff), nil
}

// unfold removes header folding and surrounding white space (RFC 5322
// §2.2.3), as mailhdr does for every reader.
func unfold(v string) string { return mailhdr.Unfold(v) }

// decodeHeader unfolds a value and decodes RFC 2047 encoded words, as
// RFC 5228 §5.7 asks of the header test, with mailhdr's decoder (every
// charset; a word that does not decode stays as written, the others are
// still decoded).
func decodeHeader(v string) string { return mailhdr.DecodeText(unfold(v)) }

// header returns the current header: the message's, or the edited copy.
func (r *run) header() []HeaderField {
	if r.hdr == nil {
		r.hdr = r.msg.Header()
	}
	return r.hdr
}

// headerValues returns the unfolded, decoded values of every field named
// name, in message order. Results are cached per run until editheader
// changes the header; callers must not modify the returned slice.
func (r *run) headerValues(name string) []string {
	if v, ok := r.hvCache[name]; ok {
		return v
	}
	var out []string
	for _, f := range r.header() {
		if strings.EqualFold(f.Name, name) {
			out = append(out, decodeHeader(f.Value))
		}
	}
	if r.hvCache == nil {
		r.hvCache = make(map[string][]string, 8)
	}
	r.hvCache[name] = out
	return out
}

// headerAddresses returns the addresses of every field named name, each
// field's list in order, cached like headerValues. The raw value is
// parsed (RFC 2047 §5: encoded words are decoded in display names only,
// never before the address is read).
func (r *run) headerAddresses(name string) [][]mailAddr {
	if v, ok := r.haCache[name]; ok {
		return v
	}
	vals := r.rawHeaderValues(name)
	out := make([][]mailAddr, len(vals))
	for i, hv := range vals {
		out[i] = parseAddressList(hv)
	}
	if r.haCache == nil {
		r.haCache = make(map[string][][]mailAddr, 4)
	}
	r.haCache[name] = out
	return out
}

// headerChanged drops the caches after editheader.
func (r *run) headerChanged() {
	clear(r.hvCache)
	clear(r.haCache)
}

// rawHeaderValues is headerValues without RFC 2047 decoding (for address
// parsing, which decodes display names only).
func (r *run) rawHeaderValues(name string) []string {
	var out []string
	for _, f := range r.header() {
		if strings.EqualFold(f.Name, name) {
			out = append(out, unfold(f.Value))
		}
	}
	return out
}

// validHeaderName checks a field name (RFC 5322 §3.6.8: printable ASCII
// except ":").
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 32 || s[i] >= 127 || s[i] == ':' {
			return false
		}
	}
	return true
}
