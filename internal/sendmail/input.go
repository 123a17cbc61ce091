package sendmail

import (
	"bufio"
	"bytes"
	"io"
)

// Input reads the message a program gives sendmail on stdin, one line at a
// time, with CRLF turned into LF (Postfix's sendmail_fix_line_endings) and,
// unless -i was given, stopping at a line holding only "." (sendmail(8)).
// Memory stays bounded by bufio's buffer plus one line for any message size;
// a very long line is passed on in pieces.
type Input struct {
	r           *bufio.Reader
	ignoreDots  bool
	pending     []byte // bytes of the current line not yet returned
	atLineStart bool
	done        bool
	// sawCR remembers a CR at the end of the previous piece of a long line,
	// so that CR LF split across two pieces still becomes LF.
	sawCR bool
}

// NewInput wraps r. ignoreDots is sendmail's -i.
func NewInput(r io.Reader, ignoreDots bool) *Input {
	return &Input{r: bufio.NewReaderSize(r, 64<<10), ignoreDots: ignoreDots, atLineStart: true}
}

// Read implements io.Reader.
func (in *Input) Read(p []byte) (int, error) {
	for len(in.pending) == 0 {
		if in.done {
			return 0, io.EOF
		}
		if err := in.fill(); err != nil {
			if err == io.EOF && len(in.pending) > 0 {
				break
			}
			if len(in.pending) == 0 {
				return 0, err
			}
		}
	}
	n := copy(p, in.pending)
	in.pending = in.pending[n:]
	return n, nil
}

// fill reads the next line (or piece of a long line) into pending.
func (in *Input) fill() error {
	piece, err := in.r.ReadSlice('\n')
	if len(piece) == 0 {
		if in.sawCR {
			in.sawCR = false
			in.pending = append(in.pending[:0], '\r')
		}
		if err == nil || err == bufio.ErrBufferFull {
			return nil
		}
		in.done = true
		return err
	}
	complete := piece[len(piece)-1] == '\n'
	line := make([]byte, 0, len(piece)+1)
	if in.sawCR {
		in.sawCR = false
		if !(len(piece) == 1 && complete) {
			line = append(line, '\r')
		}
	}
	line = append(line, piece...)
	if complete {
		// CRLF → LF (and CR CR LF, which broken converters write).
		line = append(bytes.TrimRight(line[:len(line)-1], "\r"), '\n')
	} else if line[len(line)-1] == '\r' && err == bufio.ErrBufferFull {
		// Hold back a trailing CR: its LF may start the next piece.
		line = line[:len(line)-1]
		in.sawCR = true
	}
	if in.atLineStart && !in.ignoreDots {
		if bytes.Equal(line, []byte(".\n")) || (err == io.EOF && bytes.Equal(line, []byte("."))) {
			in.done = true
			in.pending = in.pending[:0]
			return io.EOF
		}
	}
	in.atLineStart = complete
	in.pending = line
	if err == io.EOF {
		in.done = true
		// A message that does not end with a newline gets one, so that
		// what follows in the spool (nothing) cannot join its last line.
		// Final bare CRs are taken as the line end they were meant to be.
		if !complete {
			in.pending = append(bytes.TrimRight(in.pending, "\r"), '\n')
		}
		return nil
	}
	if err != nil && err != bufio.ErrBufferFull {
		in.done = true
		return err
	}
	return nil
}
