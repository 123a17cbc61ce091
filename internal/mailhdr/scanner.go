package mailhdr

import (
	"bufio"
	"bytes"
	"io"
)

// MaxField bounds the part of one field held in memory (Field.Raw). A
// longer field is read to its end all the same (the header goes on after
// it) and marked Truncated; Scanner.CopyRest passes its whole text on.
const MaxField = 64 << 10

// maxName is how far into a line the colon that ends a field name is
// looked for: a line may be 998 characters long (RFC 5322 §2.1.1), so a
// name and the white space before its colon fit in it.
const maxName = 998

// Scanner reads the header at the start of a message one field at a time,
// holding at most MaxField bytes of one field: memory stays flat for a
// header of any size (principle 3).
//
// Where the header ends is decided here, once, for every part of ebb:
//   - An mbox "From " line at the very start is envelope, not header: it is
//     skipped (maildir(5); ebb deliver drops it from the stored copy).
//   - The header ends at the first empty line (RFC 5322 §2.1), or at the end
//     of the input.
//   - When the first line (after an mbox line) is neither a field nor
//     empty, the message has no header: it is all body (ebb deliver writes
//     an empty line above it, as Postfix's cleanup does, so that every
//     later reader agrees).
//   - A later line that is neither a field nor a continuation does not end
//     the header: it is kept as a Field without a Name, with its
//     continuation lines, and the fields after it are read (Dovecot does
//     the same). A reader that stopped there would miss a From: below it
//     that a mail client shows.
//   - A line starting with a space or a tab continues the field above it
//     (RFC 5322 §2.2.3), white space only or not (§4.2's obs-FWS).
//
// Lines end at LF; a CR before it belongs to the line end. A CR anywhere
// else is content (the SMTP server leaves a bare CR as it is).
type Scanner struct {
	br       *bufio.Reader
	started  bool
	done     bool
	noHeader bool
	mbox     bool
	field    Field
	rest     bool   // a truncated field's remainder is not consumed yet
	restMid  bool   // ... and the line it was cut in goes on
	over     []byte // ... and these bytes of it were read already
	off      int64
	sep      []byte
	err      error
}

// NewScanner reads the header from br. After the last field (Scan false)
// br is positioned at the start of the body.
func NewScanner(br *bufio.Reader) *Scanner {
	return &Scanner{br: br}
}

// Scan reads the next field; false at the end of the header (or on a read
// error: see Err).
func (s *Scanner) Scan() bool {
	if s.done || s.err != nil {
		return false
	}
	if s.rest {
		s.copyRest(nil)
		if s.err != nil {
			return false
		}
	}
	if !s.started {
		s.started = true
		n, err := SkipMboxLine(s.br)
		s.off += n
		s.mbox = n > 0
		if err != nil {
			s.fail(err)
			return false
		}
		if !StartsWithHeader(s.br) {
			s.noHeader = true
			s.done = true
			return false
		}
	}
	p, err := s.br.Peek(1)
	if len(p) == 0 {
		s.fail(err)
		return false
	}
	if line := emptyLine(s.br); line > 0 {
		s.sep = make([]byte, line)
		_, err := io.ReadFull(s.br, s.sep)
		s.off += int64(line)
		s.done = true
		s.fail(err)
		return false
	}
	s.readField()
	return s.err == nil || len(s.field.Raw) > 0
}

// fail ends the scan; io.EOF is the end of the header, not an error.
func (s *Scanner) fail(err error) {
	s.done = true
	if err != nil && err != io.EOF {
		s.err = err
	}
}

// Field is the field Scan read. Its Raw is the caller's to keep.
func (s *Scanner) Field() Field { return s.field }

// Err is the first read error (not io.EOF).
func (s *Scanner) Err() error { return s.err }

// Offset is how many bytes have been consumed: after the last Scan, where
// the body starts (the mbox line and the empty line included).
func (s *Scanner) Offset() int64 { return s.off }

// Separator is the empty line that ended the header ("\n" or "\r\n"), nil
// when the input ended (or the body began) without one.
func (s *Scanner) Separator() []byte { return s.sep }

// NoHeader reports that the message has no header: its first line (after
// an mbox line) is neither a field nor empty, so all of it is body.
func (s *Scanner) NoHeader() bool { return s.noHeader }

// SkippedMboxLine reports that an mbox "From " line was skipped.
func (s *Scanner) SkippedMboxLine() bool { return s.mbox }

// CopyRest writes the part of the current field that is not in its Raw
// (a Truncated field's remainder, as written) to w and consumes it. It
// writes nothing for a field that was not truncated.
func (s *Scanner) CopyRest(w io.Writer) error {
	if !s.rest {
		return nil
	}
	s.copyRest(w)
	return s.err
}

func (s *Scanner) copyRest(w io.Writer) {
	s.rest = false
	if len(s.over) > 0 && w != nil {
		if _, err := w.Write(s.over); err != nil {
			s.err, s.done = err, true
			return
		}
	}
	s.over = s.over[:0]
	if s.restMid {
		s.restMid = false
		if !s.line(w, nil) {
			return
		}
	}
	for s.continues() {
		if !s.line(w, nil) {
			return
		}
	}
}

// continues reports whether the next line is a continuation line.
func (s *Scanner) continues() bool {
	p, _ := s.br.Peek(1)
	return len(p) == 1 && (p[0] == ' ' || p[0] == '\t')
}

// line consumes one line (to and with its LF), appending to *raw up to
// MaxField or writing it to w. It returns false at the end of the input or
// on an error, and when *raw is full (then the line is not consumed
// further: rest is set).
func (s *Scanner) line(w io.Writer, raw *[]byte) bool {
	for {
		frag, err := s.br.ReadSlice('\n')
		s.off += int64(len(frag))
		if raw != nil {
			room := MaxField - len(*raw)
			if len(frag) > room {
				*raw = append(*raw, frag[:room]...)
				s.over = append(s.over[:0], frag[room:]...)
				s.rest, s.restMid = true, err == bufio.ErrBufferFull
				s.field.Truncated = true
				if err != nil && err != bufio.ErrBufferFull {
					s.fail(err)
				}
				return false
			}
			*raw = append(*raw, frag...)
		} else if w != nil && len(frag) > 0 {
			if _, werr := w.Write(frag); werr != nil {
				s.err, s.done = werr, true
				return false
			}
		}
		switch err {
		case nil:
			return true
		case bufio.ErrBufferFull:
			continue
		default:
			s.fail(err)
			return false
		}
	}
}

// readField reads one field: its first line and the continuation lines.
func (s *Scanner) readField() {
	s.field = Field{}
	var raw []byte
	if s.line(nil, &raw) {
		for s.continues() {
			if !s.line(nil, &raw) {
				break
			}
		}
	}
	s.field.Raw = raw
	if n, ok := fieldName(raw); ok {
		s.field.Name = string(n)
		s.field.vstart = bytes.IndexByte(raw, ':') + 1
	}
}

// fieldName returns the name of the field that line starts, and whether it
// starts one: a name of printable US-ASCII except ":" (RFC 5322 §3.6.8),
// optional white space (§4.5's obs-optional), then a colon, all within
// the first maxName bytes.
func fieldName(line []byte) ([]byte, bool) {
	end := -1
	for i, c := range line {
		if i >= maxName {
			return nil, false
		}
		switch {
		case c == ':':
			if i == 0 {
				return nil, false
			}
			if end < 0 {
				end = i
			}
			return line[:end], true
		case c == ' ' || c == '\t':
			if i == 0 {
				return nil, false
			}
			if end < 0 {
				end = i
			}
		case c < 33 || c > 126 || end >= 0:
			return nil, false
		}
	}
	return nil, false
}

// SkipMboxLine consumes an mbox "From " line at the start of br (any
// length) and returns how many bytes it had (0: none). "From : a@b" is a
// From: field (RFC 5322 §4.5 allows white space before the colon), not
// an mbox line.
func SkipMboxLine(br *bufio.Reader) (int64, error) {
	p, err := br.Peek(5)
	if string(p) != "From " {
		if err == io.EOF || err == bufio.ErrBufferFull {
			err = nil
		}
		return 0, err
	}
	if _, field := fieldName(peekLine(br, maxName+1)); field {
		return 0, nil
	}
	var n int64
	for {
		frag, err := br.ReadSlice('\n')
		n += int64(len(frag))
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			err = nil
		}
		return n, err
	}
}

// StartsWithHeader reports whether the line at br's start (not consumed)
// begins a header: a field, the empty line that ends an empty header, or
// nothing at all. Otherwise the message has no header (see Scanner).
func StartsWithHeader(br *bufio.Reader) bool {
	line := peekLine(br, maxName+1)
	if len(line) == 0 || emptyLine(br) > 0 {
		return true
	}
	_, ok := fieldName(line)
	return ok
}

// emptyLine returns the length of the empty line at br's start ("\n": 1,
// "\r\n": 2), or 0.
func emptyLine(br *bufio.Reader) int {
	p, _ := br.Peek(1)
	if len(p) == 1 && p[0] == '\n' {
		return 1
	}
	if len(p) == 1 && p[0] == '\r' {
		if p, _ := br.Peek(2); len(p) == 2 && p[1] == '\n' {
			return 2
		}
	}
	return 0
}

// peekLine returns the start of the line at br's start without consuming
// it: up to and with its LF, at most max bytes. It asks the source for
// more only until the LF is in, so a short line from a pipe does not wait
// for max bytes.
func peekLine(br *bufio.Reader, max int) []byte {
	max = min(max, br.Size())
	n := 1
	for {
		p, err := br.Peek(n)
		if b := br.Buffered(); b > len(p) {
			p, _ = br.Peek(b)
		}
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			return p[:i+1]
		}
		if err != nil || len(p) >= max {
			return p[:min(len(p), max)]
		}
		n = min(max, len(p)+1)
	}
}
