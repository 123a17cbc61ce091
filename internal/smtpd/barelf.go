package smtpd

import (
	"bytes"
	"io"

	"github.com/ebbmail/ebb/internal/bufpool"
)

// crlfReader turns a bare LF in the message data into CRLF while streaming
// it into the spool. RFC 5321 §2.3.8 allows only CRLF as the line end and
// §4.1.1.4 forbids bare LF in DATA; clients still send it (scripts, broken
// libraries). ebb normalises rather than refuses (Postfix 3.9's
// smtpd_forbid_bare_newline = normalize, its default): the message is
// kept, and the spool holds only CRLF, so a later relay hop never passes a
// bare LF on (the "SMTP smuggling" class of 2023 needs a receiver that
// reads a bare LF as a line end; ebb's end of data is only CRLF.CRLF, and
// what it stores or sends on has one line-end style). A bare CR is left as
// it is: it is content, not a line end, to every reader we feed.
type crlfReader struct {
	r       io.Reader
	buf     []byte
	prevCR  bool
	pending bool    // the LF of a converted line end did not fit
	err     error   // held back while pending
	pooled  *[]byte // buf, when lent by bufpool
}

// release returns a pooled buffer; a later Read lends another.
func (c *crlfReader) release() {
	if c.pooled != nil {
		bufpool.PutBytes(c.pooled)
		c.pooled = nil
	}
	c.buf = nil
}

func newCRLFReader(r io.Reader) *crlfReader { return &crlfReader{r: r} }

func (c *crlfReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w := 0
	if c.pending {
		p[0], w, c.pending = '\n', 1, false
	}
	if c.err != nil || w == len(p) {
		return w, c.err
	}
	// Each byte read may become two: read at most half of the room
	// (rounded up; the one that may not fit waits in pending).
	want := (len(p) - w + 1) / 2
	if cap(c.buf) < want {
		c.release()
		if want <= bufpool.Size {
			c.pooled = bufpool.Bytes()
			c.buf = *c.pooled
		} else {
			c.buf = make([]byte, want)
		}
	}
	n, err := c.r.Read(c.buf[:want])
	if err != nil {
		defer c.release() // the data ends here: the buffer goes back to the pool
	}
	// Whole spans between line ends are copied; only the LF is looked at.
	in := c.buf[:n]
	for len(in) > 0 {
		j := bytes.IndexByte(in, '\n')
		if j < 0 {
			w += copy(p[w:], in)
			c.prevCR = in[len(in)-1] == '\r'
			break
		}
		w += copy(p[w:], in[:j])
		cr := c.prevCR
		if j > 0 {
			cr = in[j-1] == '\r'
		}
		if !cr {
			p[w] = '\r'
			w++
		}
		c.prevCR = false
		in = in[j+1:]
		if w == len(p) {
			// Only the last octet read can be left over: its LF waits.
			c.pending = true
			break
		}
		p[w] = '\n'
		w++
	}
	if c.pending {
		c.err = err
		return w, nil
	}
	return w, err
}
