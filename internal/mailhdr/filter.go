package mailhdr

import (
	"bufio"
	"bytes"
	"io"
)

// Verdict is what a Filter does with one field.
type Verdict struct {
	Drop bool
	// Rename, when set, replaces the field's name (what follows the name,
	// the colon and the value, stays as written).
	Rename string
}

// Filter streams a message with some of its header's fields dropped or
// renamed, everything else byte for byte as it came (an mbox line, the
// empty line, the body), but for the empty line EndWithEmptyLine adds. The header is read by
// Scanner, so a field is judged exactly as every other part of ebb reads
// it; only MaxField bytes of one field are held, a longer field's rest
// streams through (or is skipped with it).
type Filter struct {
	// EndWithEmptyLine writes an empty line where the header ended at a
	// line that is no field (Scanner.EndedAtText), so that the copy has
	// its body where ebb read it for every later reader (as Postfix's
	// cleanup does).
	EndWithEmptyLine bool
	// DropMboxLine leaves an mbox "From " line at the start out (it is
	// envelope, not message: maildir(5)).
	DropMboxLine bool
	// EndAtEOF writes the empty line a header that ends the input lacks
	// (a message without a body), so that a reader that needs it (DKIM's)
	// finds it.
	EndAtEOF bool
	// TightenColon writes a field name followed by white space before
	// its colon (RFC 5322 §4.5's obsolete "From :") as "From:": the same
	// field, in the form DKIM verifiers read (dkimpy and OpenDKIM do not
	// take the obsolete one).
	TightenColon bool
	// Below, when set with EndWithEmptyLine, is shown each line a lax
	// reader would take for a field below where the header ended at text
	// (Scanner.Lax), up to the next empty line: the copy keeps them as
	// body, and a check may still want to know what they claim.
	Below func(Field)
	// Each, when set, is shown every field of the header as it is read,
	// before decide: so that a streaming writer learns what it needs of
	// the header (the queue: Message-ID, Subject) from this one reading.
	Each    func(Field)
	after   int  // the state after fRest
	fields  int  // fields read
	lineEnd bool // the last field ended with a line end

	crlf   bool // the last field ended in CRLF
	br     *bufio.Reader
	decide func(Field) Verdict
	s      *Scanner
	out    []byte // output waiting to be read
	state  int
	keep   bool   // the current field's rest goes out
	line   []byte // a fragment of the mbox line
	err    error
}

const (
	fMbox = iota
	fMboxLine
	fHeader
	fLax
	fRest
	fBody
)

// NewFilter filters the message read from br: decide is asked once per
// field (Name "" for a line that is no field).
func NewFilter(br *bufio.Reader, decide func(Field) Verdict) *Filter {
	return &Filter{br: br, decide: decide}
}

func (f *Filter) Read(p []byte) (int, error) {
	for len(f.out) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		switch f.state {
		case fMbox:
			// An mbox line goes through as it is; the Scanner starts
			// after it (and so finds no second one).
			if atMboxLine(f.br) {
				f.state = fMboxLine
				if f.DropMboxLine {
					if _, err := SkipMboxLine(f.br); err != nil {
						f.err = err
					}
					f.startHeader()
				}
				continue
			}
			f.startHeader()
		case fMboxLine:
			frag, err := f.br.ReadSlice('\n')
			f.line = append(f.line[:0], frag...) // br is peeked below
			f.out = f.line
			if err != bufio.ErrBufferFull {
				if err != nil && err != io.EOF {
					f.err = err
				}
				f.startHeader()
			}
		case fHeader:
			if !f.s.Scan() {
				if err := f.s.Err(); err != nil {
					f.err = err
					continue
				}
				f.out, f.state = f.s.Separator(), fBody
				switch {
				case f.EndWithEmptyLine && f.s.EndedAtText():
					f.out = f.endLine()
					if f.Below != nil && f.s.Lax() {
						f.state = fLax
					}
				case f.EndAtEOF && f.out == nil && f.fields > 0:
					f.out = f.endLine()
					if !f.lineEnd {
						f.out = append(f.endLine(), f.out...)
					}
				}
				continue
			}
			fl := f.s.Field()
			f.fields++
			if !fl.Truncated {
				f.crlf = bytes.HasSuffix(fl.Raw, []byte("\r\n"))
				f.lineEnd = bytes.HasSuffix(fl.Raw, []byte("\n"))
			}
			if f.Each != nil {
				f.Each(fl)
			}
			v := f.decide(fl)
			f.keep = !v.Drop
			switch {
			case v.Drop:
				f.out = nil
			case v.Rename != "" && fl.Name != "":
				f.out = append([]byte(v.Rename), fl.Raw[len(fl.Name):]...)
			case f.TightenColon && fl.Name != "" && fl.Raw[len(fl.Name)] != ':':
				f.out = append([]byte(fl.Name), fl.Raw[bytes.IndexByte(fl.Raw, ':'):]...)
			default:
				f.out = fl.Raw
			}
			if fl.Truncated {
				f.state, f.after = fRest, fHeader
			}
		case fLax:
			// Below the line where the header ended: body to every
			// reader of the copy, shown to Below as a lax reader would
			// read it, and passed on as it is.
			if !f.s.Scan() {
				if err := f.s.Err(); err != nil {
					f.err = err
					continue
				}
				f.out, f.state = f.s.Separator(), fBody
				continue
			}
			fl := f.s.Field()
			f.Below(fl)
			f.out, f.keep = fl.Raw, true
			if fl.Truncated {
				f.state, f.after = fRest, fLax
			}
		case fRest:
			if !f.keep {
				if err := f.s.CopyRest(io.Discard); err != nil {
					f.err = err
				}
				f.state = f.after
				continue
			}
			n, err := f.s.ReadRest(p)
			if err == io.EOF {
				f.state = f.after
				if n == 0 {
					continue
				}
			}
			return n, nil
		case fBody:
			return f.br.Read(p)
		}
	}
	n := copy(p, f.out)
	f.out = f.out[n:]
	return n, nil
}

func (f *Filter) startHeader() {
	f.s = NewScanner(f.br)
	f.s.started, f.state = true, fHeader
}

// endLine is the empty line to write where the header ended at text: in
// the line-end style of the header, or of that line when there is no
// header.
func (f *Filter) endLine() []byte {
	crlf := f.crlf
	if f.s.NoHeader() {
		l := peekLine(f.br, f.br.Size())
		crlf = len(l) >= 2 && l[len(l)-2] == '\r' && l[len(l)-1] == '\n'
	}
	if crlf {
		return []byte("\r\n")
	}
	return []byte("\n")
}

// Normalise streams the message in br as Postfix's cleanup would store
// it, so that every reader after it (the checks, the scanners, Sieve,
// Dovecot, the remote server a copy is relayed to, DKIM signing) finds the
// header where ebb finds it: byte for byte as it came, but for the empty
// line a header lacks (where it ended at a line that is no field, or at
// the end of a message without a body) and without an mbox "From " line
// at the start (envelope, not message; ebb's own header lines go above
// the stored message, where such a line would end the header). The queue
// stores what comes in through it.
func Normalise(br *bufio.Reader) *Filter {
	f := NewFilter(br, func(Field) Verdict { return Verdict{} })
	f.EndWithEmptyLine, f.EndAtEOF, f.DropMboxLine, f.TightenColon = true, true, true, true
	return f
}
