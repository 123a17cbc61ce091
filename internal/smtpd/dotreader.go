package smtpd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// dotReader reads the text of a DATA command (RFC 5321 §4.1.1.4) from the
// connection's buffer up to the end-of-data line, removing the dot of
// every line that starts with one (transparency, §4.5.2). It works on
// what the buffer holds: in the middle of a line it finds the next LF with
// bytes.IndexByte and copies the whole span; only the first octets of a
// line go through the small state machine below. (go-smtp's reader, which
// ebb used before, took every octet through bufio.ReadByte: a quarter to a
// third of ebb's CPU at 64 KiB messages, bench/serve/results.)
//
// Its reading is the one ebb has always had, and the only reading a
// smuggled message could exploit is pinned by tests (dotreader_test.go,
// test/smtp/line_ends_test.go):
//
//   - A line starts only after CRLF (or at the start of the data). A bare
//     LF is content, not a line end: "\n.\r\n" does not end the data and
//     "\n." keeps its dot, so "LF.LF" and "LF.CRLF" cannot end a message
//     early (the SMTP smuggling of 2023). The bare LF is given out as
//     CRLF (lineEnds, barelf.go), so what is stored has one line-end style
//     and a later hop never sees a bare LF.
//   - The end of data is CRLF "." CRLF and nothing else (the CRLF before
//     the dot belongs to the message, as §4.1.1.4 says).
//   - A dot at the start of a line is removed whatever follows it (§4.5.2).
//
// Dot-unstuffing, the bare LF and the limits are done in the one copy
// out of the connection's buffer: the octets of a message are looked at
// once here (at 64 KiB a second pass for the bare LF was a fifth of the
// engine's CPU per message, BenchmarkData).
//
// Two details differ from go-smtp's reader, which had deviated from the
// RFC (and from net/textproto, which it was taken from): the CRLF of
// "CR CR LF" ends the line, so "\r\r\n.\r\n" is the end of data as in
// Postfix; and the CR of a line ".\rX" is kept (only the dot goes), where
// go-smtp dropped it.
//
// A line (counted in octets as they arrive, up to and including its LF,
// bare or not) may be at most maxLine octets (errLineTooLong); a message
// with a longer one is refused (500 5.5.6) and the rest of it skipped.
// The message may be at most maxSize octets (0: no limit), counted after
// dot-unstuffing and before a bare LF's CR (errTooBig, 552 5.3.4: RFC
// 1870 §6.3): that many are given out, then the error.
type dotReader struct {
	br      *bufio.Reader
	state   dotState
	le      lineEnds
	line    int   // octets of the current line read so far
	maxLine int   // 0: no limit
	maxSize int64 // 0: no limit
	left    int64 // octets the size limit still allows
	err     error
	eof     bool
}

type dotState uint8

const (
	dotBegin dotState = iota // at the start of a line
	dotDot                   // after a dot that started a line
	dotDotCR                 // after "." CR at the start of a line
	dotData                  // within a line
)

// maxLineLength bounds one line, commands and message lines alike. RFC
// 5321 §4.5.3.1.6 says 1000 octets, but real mail (long HTML lines, JSON)
// breaks it; 8 KiB is what ebb has always taken, and it still bounds what
// a client can make a command line cost before AUTH.
const maxLineLength = 8192

// errLineTooLong is a message line over maxLineLength.
var errLineTooLong = &Reply{Code: 500, Enhanced: [3]int{5, 5, 6},
	Message: fmt.Sprintf("Line longer than %d octets", maxLineLength)}

func newDotReader(br *bufio.Reader, maxLine int, maxSize int64) *dotReader {
	return &dotReader{br: br, maxLine: maxLine, maxSize: maxSize, left: maxSize}
}

func (d *dotReader) Read(p []byte) (int, error) {
	if d.eof {
		return 0, io.EOF
	}
	if d.err != nil {
		return 0, d.err
	}
	w := d.le.flush(p) // the LF of a bare LF the last read had no room for
	for w < len(p) {
		n := d.br.Buffered()
		if n == 0 {
			if w > 0 {
				// Give out what there is before waiting for more.
				return w, nil
			}
			if _, err := d.br.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				d.err = err
				return 0, err
			}
			continue
		}
		in, _ := d.br.Peek(n)
		used, made, done := d.scan(in, p[w:])
		d.br.Discard(used)
		w += made
		if done {
			d.eof = true
			return w, io.EOF
		}
		if d.err != nil {
			return w, d.err
		}
	}
	return w, nil
}

// scan moves octets from in to out as far as both allow: used octets of
// in, made octets of out, done at the end of data.
func (d *dotReader) scan(in, out []byte) (used, made int, done bool) {
	i, o := 0, 0
	for i < len(in) && o < len(out) {
		switch d.state {
		case dotBegin:
			if in[i] == '.' {
				i++
				d.line++
				d.state = dotDot
				continue
			}
			d.state = dotData
		case dotDot:
			if in[i] == '\r' {
				i++
				d.line++
				d.state = dotDotCR
				continue
			}
			d.state = dotData // ".." is ".", ".x" is "x"
		case dotDotCR:
			if in[i] == '\n' {
				return i + 1, o, true // CRLF "." CRLF
			}
			// ".\rX": the dot was only transparency; the CR is content.
			if !d.take(1) {
				return i, o, false
			}
			out[o] = '\r'
			o++
			d.le.prevCR = true
			d.state = dotData
		case dotData:
			rest := in[i:]
			if d.maxSize > 0 {
				if d.left == 0 {
					d.take(1) // one more octet than allowed
					return i, o, false
				}
				rest = rest[:min(int64(len(rest)), d.left)]
			}
			n, m, eol, crlf := d.le.copyLine(out[o:], rest)
			long := d.maxLine > 0 && d.line+n > d.maxLine
			d.take(int64(n))
			i, o = i+n, o+m
			d.line += n
			if eol {
				d.line = 0
				if crlf {
					d.state = dotBegin
				}
				// (A bare LF is content: the line goes on, see the type's doc.)
			}
			if long {
				d.err = errLineTooLong
				return i, o, false
			}
		}
	}
	return i, o, false
}

// take counts n octets given out against the size limit; false, with
// the error set, when they pass it.
func (d *dotReader) take(n int64) bool {
	if d.maxSize <= 0 {
		return true
	}
	if n > d.left {
		d.err = errTooBig(d.maxSize)
		return false
	}
	d.left -= n
	return true
}

// drain reads the rest of the data, without the line limit, so that the
// next command can be read: after a refusal (size, a line too long, the
// spool's trouble) the client still sends the message to its end. It
// returns an error only when the connection failed.
func (d *dotReader) drain() error {
	if d.eof {
		return nil
	}
	var r *Reply
	if d.err != nil && !errors.As(d.err, &r) {
		return d.err
	}
	d.err, d.maxLine, d.maxSize = nil, 0, 0
	var scratch [4096]byte
	for {
		_, err := d.Read(scratch[:])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
