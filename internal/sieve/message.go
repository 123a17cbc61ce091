package sieve

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/ebbmail/ebb/internal/mailhdr"
)

// MaxHeaderBytes bounds the header NewMessage reads into memory; the body is
// never read into memory by NewMessage.
const MaxHeaderBytes = 4 << 20

// FileMessage is a Message over a file (or any io.ReaderAt): the header is
// parsed once, the body is read from r on demand.
type FileMessage struct {
	r       io.ReaderAt
	size    int64
	header  []HeaderField
	bodyOff int64
}

// NewMessage reads the header of the message in r (size octets) and returns
// a Message whose Body reads from r. It accepts LF and CRLF line endings.
func NewMessage(r io.ReaderAt, size int64) (*FileMessage, error) {
	br := bufio.NewReader(io.NewSectionReader(r, 0, size))
	m := &FileMessage{r: r, size: size}
	var off int64
	cur := -1
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A very long line: gather it whole (still bounded below).
			buf := append([]byte{}, line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				buf = append(buf, line...)
				if len(buf) > MaxHeaderBytes {
					return nil, fmt.Errorf("message header line is longer than %d bytes", MaxHeaderBytes)
				}
			}
			line = buf
		}
		off += int64(len(line))
		if off > MaxHeaderBytes {
			return nil, fmt.Errorf("message header is longer than %d bytes", MaxHeaderBytes)
		}
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 {
			// The blank line (or the end of a header-only message).
			m.bodyOff = off
			if err == io.EOF && len(line) == 0 {
				m.bodyOff = size
			}
			break
		}
		if len(m.header) == 0 && off == int64(len(line)) && bytes.HasPrefix(trimmed, []byte("From ")) {
			// An mbox "From " separator line before the header is not a
			// field; skip it rather than end the header there.
			continue
		}
		if trimmed[0] == ' ' || trimmed[0] == '\t' {
			if cur >= 0 {
				m.header[cur].Value += "\r\n" + string(trimmed)
			}
		} else if i := bytes.IndexByte(trimmed, ':'); i > 0 {
			m.header = append(m.header, HeaderField{Name: string(bytes.TrimRight(trimmed[:i], " \t")), Value: string(trimmed[i+1:])})
			cur = len(m.header) - 1
		} else {
			// Not a header field: the header ended without a blank line
			// (RFC 5322 requires one; be lenient like Dovecot).
			m.bodyOff = off - int64(len(line))
			break
		}
		if err == io.EOF {
			m.bodyOff = size
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *FileMessage) Header() []HeaderField { return m.header }
func (m *FileMessage) Size() int64           { return m.size }
func (m *FileMessage) Body() (io.Reader, error) {
	return io.NewSectionReader(m.r, m.bodyOff, m.size-m.bodyOff), nil
}

// unfold removes header folding and surrounding white space (RFC 5322 §2.2.3).
func unfold(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(v)
	}
	return strings.Trim(v, " \t")
}

var wordDecoder = &mime.WordDecoder{CharsetReader: mailhdr.CharsetReader}

// decodeHeader unfolds a value and decodes RFC 2047 encoded words, as
// RFC 5228 §5.7 asks of the header test. An undecodable value stays raw.
func decodeHeader(v string) string {
	v = unfold(v)
	if !strings.Contains(v, "=?") {
		return v
	}
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

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
// field's list in order, cached like headerValues.
func (r *run) headerAddresses(name string) [][]mailAddr {
	if v, ok := r.haCache[name]; ok {
		return v
	}
	vals := r.headerValues(name)
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
