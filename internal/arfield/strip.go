package arfield

import (
	"bufio"
	"bytes"
	"io"
	"strings"

	"github.com/ebbmail/ebb/internal/bufpool"
)

// maxARField bounds how much of one Authentication-Results field is held
// to find its authserv-id; a field whose id is not found within it is
// dropped (it can only be a forgery meant to hide the id).
const maxARField = 64 << 10

// StripReader streams r with every Authentication-Results field that
// claims authservID removed from the header (RFC 8601 §5: "an MTA ... MUST
// remove or rename" such fields coming from outside, so that a forged one
// cannot pass for ours). Only that field is held in memory, at most 64 KiB;
// everything else streams through, the body untouched. An empty authservID
// returns r as it is.
//
// ebb's own results are in the queue's prefix, written above the data, so
// they never pass through here.
func StripReader(r io.Reader, authservID string) io.Reader {
	if authservID == "" {
		return r
	}
	return &stripReader{br: bufpool.Reader(r), id: strings.ToLower(authservID)}
}

// Release returns the buffer of a reader from StripReader to the pool
// (bufpool); r is not read after it. Any other reader is left alone.
func Release(r io.Reader) {
	if s, ok := r.(*stripReader); ok && s.br != nil {
		bufpool.PutReader(s.br)
		s.br = nil
	}
}

type stripReader struct {
	br       *bufio.Reader
	id       string
	out      []byte // output waiting to be read
	keep     []byte // backing store for out
	inBody   bool
	dropping bool // the current field is dropped, with its continuations
	midLine  bool // inside a line longer than the buffer
	midDrop  bool // ... which is being dropped
	err      error
}

func (s *stripReader) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.inBody {
			return s.br.Read(p)
		}
		s.step()
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

// emit queues b (which may alias the bufio buffer) for output.
func (s *stripReader) emit(b []byte) {
	s.keep = append(s.keep[:0], b...)
	s.out = s.keep
}

// step handles one line (or fragment of a long line) of the header.
func (s *stripReader) step() {
	line, err := s.br.ReadSlice('\n')
	full := err != bufio.ErrBufferFull
	if err != nil && err != bufio.ErrBufferFull {
		s.err = err
	}
	if len(line) == 0 {
		return
	}
	if s.midLine {
		s.midLine = !full
		if !s.midDrop {
			s.emit(line)
		}
		return
	}
	start := line[0]
	switch {
	case start == ' ' || start == '\t':
		// A continuation of the field before.
		s.midLine, s.midDrop = !full, s.dropping
		if !s.dropping {
			s.emit(line)
		}
		return
	case len(bytes.TrimRight(line, "\r\n")) == 0 && full:
		s.inBody = true
		s.emit(line)
		return
	}
	s.dropping = false
	i := bytes.IndexByte(line, ':')
	if i <= 0 || !IsFieldName(line[:i]) {
		// Not a field: the body starts here (no empty line before it).
		s.inBody = true
		s.emit(line)
		s.midLine = false
		return
	}
	if !IsAuthResults(string(line[:i])) {
		s.midLine, s.midDrop = !full, false
		s.emit(line)
		return
	}
	// An Authentication-Results field: gather it whole (bounded) to read
	// its authserv-id, which may follow comments and folding.
	buf := append([]byte(nil), line...)
	over := false
	for !full && s.err == nil {
		line, err = s.br.ReadSlice('\n')
		full = err != bufio.ErrBufferFull
		if err != nil && err != bufio.ErrBufferFull {
			s.err = err
		}
		if len(buf) < maxARField {
			buf = append(buf, line...)
		} else {
			over = true
		}
	}
	for s.err == nil && !over {
		next, err := s.br.Peek(1)
		if err != nil || (next[0] != ' ' && next[0] != '\t') {
			break
		}
		line, err = s.br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			s.err = err
		}
		buf = append(buf, line...)
		if err == bufio.ErrBufferFull || len(buf) > maxARField {
			over = true
			s.midLine, s.midDrop = err == bufio.ErrBufferFull, true
		}
	}
	if over {
		s.dropping = true
		return
	}
	if AuthservID(string(buf[i+1:])) == s.id {
		s.dropping = true // continuations not yet read (none) are dropped too
		return
	}
	s.emit(buf)
}
