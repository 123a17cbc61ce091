package smtpd

import (
	"bufio"
	"bytes"
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
//     early (the SMTP smuggling of 2023). The session turns the bare LF
//     into CRLF afterwards (barelf.go), so what is stored has one line-end
//     style and a later hop never sees a bare LF.
//   - The end of data is CRLF "." CRLF and nothing else (the CRLF before
//     the dot belongs to the message, as §4.1.1.4 says).
//   - A dot at the start of a line is removed whatever follows it (§4.5.2).
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
type dotReader struct {
	br      *bufio.Reader
	state   dotState
	prevCR  bool // in dotData: the last octet given out was a CR
	line    int  // octets of the current line read so far
	maxLine int  // 0: no limit
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

func newDotReader(br *bufio.Reader, maxLine int) *dotReader {
	return &dotReader{br: br, maxLine: maxLine}
}

func (d *dotReader) Read(p []byte) (int, error) {
	if d.eof {
		return 0, io.EOF
	}
	if d.err != nil {
		return 0, d.err
	}
	w := 0
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
			out[o] = '\r'
			o++
			d.prevCR = true
			d.state = dotData
		case dotData:
			rest, room := in[i:], out[o:]
			n := min(len(rest), len(room))
			j := bytes.IndexByte(rest[:n], '\n')
			if j < 0 {
				copy(room, rest[:n])
				d.prevCR = rest[n-1] == '\r'
				d.line += n
				i, o = i+n, o+n
				if d.maxLine > 0 && d.line > d.maxLine {
					d.err = errLineTooLong
					return i, o, false
				}
				continue
			}
			copy(room, rest[:j+1])
			crlf := d.prevCR
			if j > 0 {
				crlf = rest[j-1] == '\r'
			}
			long := d.maxLine > 0 && d.line+j+1 > d.maxLine
			i, o = i+j+1, o+j+1
			d.line, d.prevCR = 0, false
			if crlf {
				d.state = dotBegin
			}
			// (A bare LF is content: the line goes on, see the type's doc.)
			if long {
				d.err = errLineTooLong
				return i, o, false
			}
		}
	}
	return i, o, false
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
	d.err, d.maxLine = nil, 0
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
