package smtpd

import (
	"bufio"
	"bytes"
	"io"
)

// lineEnds turns a bare LF in the message data into CRLF as the engine's
// readers (dotReader for DATA, chunkReader for BDAT) copy the data out of
// the connection's buffer: the same copy that moves it, not a pass of its
// own. RFC 5321 §2.3.8 allows only CRLF as the line end and §4.1.1.4
// forbids bare LF in DATA; clients still send it (scripts, broken
// libraries). ebb normalises rather than refuses (Postfix 3.9's
// smtpd_forbid_bare_newline = normalize, its default): the message is
// kept, and the spool holds only CRLF, so a later relay hop never passes a
// bare LF on (the "SMTP smuggling" class of 2023 needs a receiver that
// reads a bare LF as a line end; ebb's end of data is only CRLF.CRLF, and
// what it stores or sends on has one line-end style). A bare CR is left as
// it is: it is content, not a line end, to every reader we feed.
//
// An LF is bare when the octet given out before it (after dot-unstuffing)
// is not a CR: the rule a reader of the output applies.
type lineEnds struct {
	prevCR bool // the last octet given out was a CR
	pendLF bool // the LF of a bare LF's CRLF did not fit in the last read
}

// flush gives out the pending LF, if any and if out has room.
func (e *lineEnds) flush(out []byte) int {
	if !e.pendLF || len(out) == 0 {
		return 0
	}
	out[0], e.pendLF = '\n', false
	return 1
}

// copyLine copies in to out up to and including its first LF, or as much
// of in as out takes, a bare LF made CRLF: used octets of in, made octets
// of out; eol when it copied an LF, crlf when that LF came after a CR (a
// line end, not a bare LF). When the CR of a bare LF takes the last room,
// its LF is pending (flush).
func (e *lineEnds) copyLine(out, in []byte) (used, made int, eol, crlf bool) {
	n := min(len(in), len(out))
	if n == 0 {
		return 0, 0, false, false
	}
	j := bytes.IndexByte(in[:n], '\n')
	if j < 0 {
		copy(out, in[:n])
		e.prevCR = in[n-1] == '\r'
		return n, n, false, false
	}
	copy(out, in[:j+1])
	crlf = e.prevCR
	if j > 0 {
		crlf = in[j-1] == '\r'
	}
	e.prevCR = false
	if crlf {
		return j + 1, j + 1, true, true
	}
	out[j] = '\r'
	if j+1 < len(out) {
		out[j+1] = '\n'
		return j + 1, j + 2, true, false
	}
	e.pendLF = true
	return j + 1, j + 1, true, false
}

// fromBuffer copies what br holds, at most limit octets, into out, each
// bare LF made CRLF, and discards what it used from br: made octets of
// out, used octets of br. It waits for br's source only when br holds
// nothing, and then returns its error (io.EOF at its end) with nothing
// copied.
func (e *lineEnds) fromBuffer(out []byte, br *bufio.Reader, limit int64) (made int, used int64, err error) {
	if br.Buffered() == 0 {
		if _, err := br.Peek(1); err != nil {
			return 0, 0, err
		}
	}
	in, _ := br.Peek(int(min(int64(br.Buffered()), limit)))
	for len(in) > 0 && made < len(out) {
		u, m, _, _ := e.copyLine(out[made:], in)
		in, used, made = in[u:], used+int64(u), made+m
	}
	br.Discard(int(used))
	return made, used, nil
}

// crlfReader is lineEnds over any reader: ebb route stages a message file
// through it (CRLFReader), so that the checks read what the spool would
// hold.
type crlfReader struct {
	br *bufio.Reader
	le lineEnds
}

func newCRLFReader(r io.Reader) *crlfReader { return &crlfReader{br: bufio.NewReader(r)} }

func (c *crlfReader) Read(p []byte) (int, error) {
	w := c.le.flush(p)
	if w == len(p) {
		return w, nil
	}
	n, _, err := c.le.fromBuffer(p[w:], c.br, int64(len(p)))
	return w + n, err
}
