package msgauth

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/ebbmail/ebb/internal/arfield"
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
				if i <= 0 || !arfield.IsFieldName(trimmed[:i]) {
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
// A read error ends the stream the same way and is kept in err: it is our
// trouble (temperror), not the message's.
type blankRunReader struct {
	r    io.Reader
	run  int
	over bool
	err  error
}

func (b *blankRunReader) Read(p []byte) (int, error) {
	if b.over || b.err != nil {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
		err = io.EOF
	}
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
