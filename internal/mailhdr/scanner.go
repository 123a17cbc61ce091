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
//   - A line starting with a space or a tab continues the field above it
//     (RFC 5322 §2.2.3), white space only or not (§4.2's obs-FWS).
//   - The header ends at the first empty line (RFC 5322 §2.1), at the end
//     of the input, or before the first line that is neither a field nor
//     a continuation of one: that line is the first of the body
//     (EndedAtText), as Postfix's cleanup reads it. When it is the very
//     first line, the message has no header (NoHeader). ebb deliver
//     writes an empty line before such a line in the copy it stores
//     (Filter.EndWithEmptyLine), so that every later reader, Dovecot and
//     mail clients included, finds the header where ebb found it.
//   - A field name is printable US-ASCII but ":", and may be followed by
//     white space before its colon (RFC 5322 §4.5's obs-optional: "From :"
//     is a From: field, not an mbox line nor the start of the body).
//
// A reader that reads past such a line (there are some) would take the
// lines below it for fields; ReadAuthors looks there too (Lax), so that a
// From: hidden below cannot pass unjudged.
//
// Lines end at LF; a CR before it belongs to the line end. A CR anywhere
// else is content (the SMTP server leaves a bare CR as it is).
type Scanner struct {
	br       *bufio.Reader
	started  bool
	done     bool
	atText   bool // the header ended before a line that is no field
	noHeader bool
	lax      bool
	nfields  int
	field    Field
	rest     bool   // a truncated field's remainder is not consumed yet
	restMid  bool   // ... and the line it was cut in goes on
	over     []byte // ... and these bytes of it were read already
	off      int64
	sep      []byte
	err      error
	max      int // bytes of one field held; 0: MaxField
}

// SetMaxField makes the Scanner hold up to n bytes of one field instead
// of MaxField: for a caller that writes the header back whole and bounds
// it as a whole (sendmail).
func (s *Scanner) SetMaxField(n int) { s.max = n }

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
		if s.CopyRest(io.Discard) != nil {
			return false
		}
	}
	if !s.started {
		s.started = true
		n, err := SkipMboxLine(s.br)
		s.off += n
		if err != nil {
			s.fail(err)
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
	if !s.lax {
		if _, ok := fieldName(peekLine(s.br, maxName+1)); !ok || p[0] == ' ' || p[0] == '\t' {
			// Text: the body starts here (a continuation line can only
			// get here as the first line, with no field to continue).
			s.atText, s.done = true, true
			s.noHeader = s.nfields == 0
			return false
		}
	}
	s.readField()
	s.nfields++
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

// EndedAtText reports that the header ended before a line that is neither
// a field nor a continuation (no empty line between header and body).
func (s *Scanner) EndedAtText() bool { return s.atText }

// Lax reads on past where the header ended at text, as a laxer reader
// would, up to the next empty line: lines that are no field come as
// Fields without a Name. It reports whether there is anything to read so
// (the header ended at text). Offset and Separator then count the lax
// part; the body as ebb reads it started where EndedAtText was set.
func (s *Scanner) Lax() bool {
	if !s.atText || s.err != nil {
		return false
	}
	s.lax, s.done, s.atText = true, false, false
	return true
}

// CopyRest writes the part of the current field that is not in its Raw
// (a Truncated field's remainder, as written) to w and consumes it. It
// writes nothing for a field that was not truncated.
func (s *Scanner) CopyRest(w io.Writer) error {
	var buf [4096]byte
	for {
		n, err := s.ReadRest(buf[:])
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				s.err, s.done, s.rest, s.over = werr, true, false, nil
				return werr
			}
		}
		if err == io.EOF {
			return s.err
		}
	}
}

// ReadRest reads the part of the current field that is not in its Raw (a
// Truncated field's remainder, as written), io.EOF after its end (at once
// for a field that was not truncated). The next Scan skips what is not
// read.
func (s *Scanner) ReadRest(p []byte) (int, error) {
	for {
		if len(s.over) > 0 {
			n := copy(p, s.over)
			s.over = s.over[n:]
			return n, nil
		}
		if !s.rest || s.err != nil {
			s.rest, s.restMid = false, false
			return 0, io.EOF
		}
		if !s.restMid {
			if !s.continues() {
				s.rest = false
				return 0, io.EOF
			}
			s.restMid = true
		}
		frag, err := s.br.ReadSlice('\n')
		s.off += int64(len(frag))
		s.restMid = err == bufio.ErrBufferFull
		n := copy(p, frag)
		s.over = append(s.over[:0], frag[n:]...)
		if err != nil && err != bufio.ErrBufferFull {
			s.fail(err)
			s.rest, s.restMid = false, false
		}
		if n > 0 {
			return n, nil
		}
	}
}

// continues reports whether the next line is a continuation line.
func (s *Scanner) continues() bool {
	p, _ := s.br.Peek(1)
	return len(p) == 1 && (p[0] == ' ' || p[0] == '\t')
}

// line consumes one line (to and with its LF), appending it to *raw up to
// MaxField. It returns false at the end of the input or on an error, and
// when *raw is full (then the line is not consumed further: rest is set).
func (s *Scanner) line(raw *[]byte) bool {
	for {
		frag, err := s.br.ReadSlice('\n')
		s.off += int64(len(frag))
		max := s.max
		if max <= 0 {
			max = MaxField
		}
		room := max - len(*raw)
		if len(frag) > room {
			*raw = append(*raw, frag[:room]...)
			s.over = append(s.over[:0], frag[room:]...)
			s.rest, s.restMid = true, err == bufio.ErrBufferFull
			s.field.Truncated = true
			if err != nil && err != bufio.ErrBufferFull {
				s.fail(err)
				s.restMid = false
			}
			return false
		}
		*raw = append(*raw, frag...)
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
	if s.line(&raw) {
		for s.continues() {
			if !s.line(&raw) {
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
	if !atMboxLine(br) {
		if _, err := br.Peek(1); err != nil && err != io.EOF {
			return 0, err
		}
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

// atMboxLine reports whether br starts with an mbox "From " line.
func atMboxLine(br *bufio.Reader) bool {
	if p, _ := br.Peek(5); string(p) != "From " {
		return false
	}
	_, field := fieldName(peekLine(br, maxName+1))
	return !field
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
