package deliver

import (
	"bufio"
	"bytes"
	"io"

	"github.com/ebbmail/ebb/internal/bufpool"
)

// lfReader turns CRLF line ends into LF while streaming, leaving a bare CR
// alone. The spool holds messages as they crossed the wire (RFC 5321 §2.3.8:
// lines end in CRLF); a Maildir holds them with the local convention, LF
// (maildir(5)), which Courier-IMAP and Dovecot both expect. Messages given to
// ebb deliver on stdin are stored as given.
type lfReader struct {
	r *bufio.Reader
}

func newLFReader(r io.Reader) *lfReader { return &lfReader{r: bufpool.Reader(r)} }

// release returns the buffer to the pool; l is not read after it.
func (l *lfReader) release() {
	bufpool.PutReader(l.r)
	l.r = nil
}

// Read moves the runs between CRs with copy and looks at each CR alone:
// a loop over every byte was 7 % of ebb serve's CPU at 64 KiB.
func (l *lfReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	w, i := 0, 0
	for i < n {
		j := bytes.IndexByte(p[i:n], '\r')
		if j < 0 {
			w += copy(p[w:], p[i:n])
			break
		}
		j += i
		w += copy(p[w:], p[i:j])
		i = j + 1
		if j+1 < n {
			if p[j+1] == '\n' {
				continue // the CR of a CRLF; the LF follows
			}
		} else if next, perr := l.r.Peek(1); perr == nil && next[0] == '\n' {
			continue // a CRLF split across two reads
		}
		p[w] = '\r'
		w++
	}
	if w == 0 && n > 0 && err == nil {
		// The chunk was only the CR of a split CRLF.
		return l.Read(p)
	}
	return w, err
}
