package smtpd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// refDot is the reading of DATA that dotReader implements, one octet at a
// time, as the specification of the tests: the output, how many octets
// of in it used, and whether it found the end of data. Lines start only
// after CRLF; a leading dot is removed; CRLF "." CRLF ends the data.
func refDot(in []byte) (out []byte, used int, ended bool) {
	state, prevCR := dotBegin, false
	for i, c := range in {
		switch state {
		case dotBegin:
			if c == '.' {
				state = dotDot
				continue
			}
		case dotDot:
			if c == '\r' {
				state = dotDotCR
				continue
			}
		case dotDotCR:
			if c == '\n' {
				return out, i + 1, true
			}
			out, prevCR = append(out, '\r'), true
		}
		state = dotData
		out = append(out, c)
		if c == '\n' {
			if prevCR {
				state = dotBegin
			}
			prevCR = false
		} else {
			prevCR = c == '\r'
		}
	}
	return out, len(in), false
}

// refLongest is the longest line (octets up to and including its LF, as
// they arrive) in the first used octets of in.
func refLongest(in []byte, used int) int {
	longest, n := 0, 0
	for _, c := range in[:used] {
		n++
		longest = max(longest, n)
		if c == '\n' {
			n = 0
		}
	}
	return longest
}

// chunked gives out its data in pieces of at most n octets.
type chunked struct {
	b []byte
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.b))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
}

// readDot reads in through a dotReader with the given piece sizes (of the
// source, the buffer and the caller), and returns the output, the error
// that ended it, and what was left for the next command.
func readDot(in []byte, src, bufSize, callSize, maxLine int) (out, rest []byte, err error) {
	br := bufio.NewReaderSize(&chunked{b: in, n: src}, bufSize)
	d := newDotReader(br, maxLine, 0)
	p := make([]byte, callSize)
	for {
		n, e := d.Read(p)
		out = append(out, p[:n]...)
		if e != nil {
			err = e
			break
		}
	}
	if err == errLineTooLong {
		// What the engine does next: skip to the end of the data.
		if derr := d.drain(); derr != nil {
			err = derr
		}
	}
	rest, _ = io.ReadAll(br)
	return out, rest, err
}

// The smuggling class and its neighbours, as ebb has always read them.
func TestDotReaderEndsOnlyAtCRLFDotCRLF(t *testing.T) {
	cases := []struct {
		name, in, out string
		ended         bool
	}{
		{"plain end", "a\r\n.\r\nQUIT\r\n", "a\r\n", true},
		{"an empty message", ".\r\n", "", true},
		{"LF.LF is content, the dot kept, the LFs made CRLF", "a\n.\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", true},
		{"LF.CRLF is content, the dot kept", "a\n.\r\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", true},
		{"CRLF.LF is no end; the leading dot goes", "a\r\n.\nb\r\n.\r\n", "a\r\n\r\nb\r\n", true},
		{"CR.CR is content", "a\r.\rb\r\n.\r\n", "a\r.\rb\r\n", true},
		{"CR.CRLF is content: a bare CR starts no line", "a\r.\r\nb\r\n.\r\n", "a\r.\r\nb\r\n", true},
		{"a doubled dot is one dot", "a\r\n..\r\n...x\r\n.\r\n", "a\r\n.\r\n..x\r\n", true},
		{"a dot before other text goes", "a\r\n.x\r\n.\r\n", "a\r\nx\r\n", true},
		{"the CR of .CR X stays", "a\r\n.\rb\r\n.\r\n", "a\r\n\rb\r\n", true},
		{"CR CR LF . CR LF ends the data (as in Postfix)", "a\r\r\n.\r\nMAIL", "a\r\r\n", true},
		{"no end: the connection closed", "a\r\nb", "a\r\nb", false},
		{"CRLF . without the last CRLF is no end", "a\r\n.\r", "a\r\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ro, used, ended := refDot([]byte(c.in))
			if ro = refLF(ro); string(ro) != c.out || ended != c.ended {
				t.Fatalf("reference: %q ended %v, want %q ended %v", ro, ended, c.out, c.ended)
			}
			for _, src := range []int{1, 2, 3, 7, 64} {
				for _, call := range []int{1, 2, 5, 4096} {
					out, rest, err := readDot([]byte(c.in), src, 16, call, 0)
					if string(out) != c.out {
						t.Fatalf("src %d call %d: %q, want %q", src, call, out, c.out)
					}
					if c.ended && (err != io.EOF || string(rest) != c.in[used:]) {
						t.Fatalf("src %d call %d: err %v, rest %q, want EOF and %q", src, call, err, rest, c.in[used:])
					}
					if !c.ended && err != io.ErrUnexpectedEOF {
						t.Fatalf("src %d call %d: err %v, want unexpected EOF", src, call, err)
					}
				}
			}
		})
	}
}

func TestDotReaderLineLimit(t *testing.T) {
	ok := strings.Repeat("x", maxLineLength-2) + "\r\n"
	long := strings.Repeat("x", maxLineLength-1) + "\r\n"
	if out, _, err := readDot([]byte(ok+ok+".\r\n"), 1000, 4096, 4096, maxLineLength); err != io.EOF || string(out) != ok+ok {
		t.Errorf("lines of %d octets: %v", maxLineLength, err)
	}
	_, _, err := readDot([]byte(ok+long+".\r\n"), 1000, 4096, 4096, maxLineLength)
	var r *Reply
	if !errors.As(err, &r) || r.Code != 500 || r.Enhanced != [3]int{5, 5, 6} {
		t.Errorf("a line of %d octets: %v, want 500 5.5.6", maxLineLength+1, err)
	}
	// After the refusal the rest is skipped to the end, whatever its lines.
	br := bufio.NewReader(strings.NewReader(long + long + "y\r\n.\r\nNOOP\r\n"))
	d := newDotReader(br, maxLineLength, 0)
	if _, err := io.Copy(io.Discard, d); err != errLineTooLong {
		t.Fatalf("copy: %v", err)
	}
	if err := d.drain(); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "NOOP\r\n" {
		t.Errorf("after drain: %q", rest)
	}
}

// FuzzDotReader checks the bulk reader against the octet-by-octet
// reference for any input, however the input arrives and however it is
// read: the same output, the same end, the same octets left for the next
// command, and the line limit hit exactly when a line passes it.
func FuzzDotReader(f *testing.F) {
	for _, s := range []string{
		"Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n",
		"a\n.\nb\r\n.\r\n", "a\r\r\n.\r\n", "\r\n.\r\n", "..\r\n.\r\n", ".\rx\r\n.\r\n",
		"a\r\n.\n.\r\n.\r\n", strings.Repeat("line\r\n", 100) + ".\r\n",
		"\r.\r\n\r\n.\r\n", "x\r\n.\r\r\n.\r\n",
	} {
		f.Add([]byte(s), uint8(3), uint8(0), uint8(7), uint8(0))
	}
	// A line over the limit by its LF alone; the end must still be found.
	f.Add([]byte("abcdef\r\n.\r\nQUIT\r\n"), uint8(63), uint8(0), uint8(200), uint8(4))
	f.Fuzz(func(t *testing.T, in []byte, src, buf, call, limit uint8) {
		want, used, ended := refDot(in)
		want = refLF(want)
		maxLine := 0
		if limit > 0 {
			maxLine = 3 + int(limit)%64 // the end line itself is 3 octets
		}
		out, rest, err := readDot(in, 1+int(src), 16+int(buf), 1+int(call), maxLine)
		if maxLine > 0 && refLongest(in, used) > maxLine {
			if err != errLineTooLong && !(err == io.ErrUnexpectedEOF && !ended) {
				t.Fatalf("longest line %d > %d, err %v", refLongest(in, used), maxLine, err)
			}
			if !bytes.HasPrefix(want, out) {
				t.Fatalf("before the limit: %q is not a prefix of %q", out, want)
			}
			if ended && !bytes.Equal(rest, in[used:]) {
				t.Fatalf("after the limit and the drain, left %q, want %q", rest, in[used:])
			}
			return
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("output %q, want %q", out, want)
		}
		switch {
		case ended && err != io.EOF:
			t.Fatalf("err %v, want EOF at %d", err, used)
		case ended && !bytes.Equal(rest, in[used:]):
			t.Fatalf("left %q, want %q", rest, in[used:])
		case !ended && err != io.ErrUnexpectedEOF:
			t.Fatalf("err %v without an end, want unexpected EOF", err)
		}
	})
}

// The size limit counts the message as the client sent it, dot-unstuffed,
// without the CR a bare LF gets: max octets are given out, one more is
// 552 5.3.4, and after the drain the next command is where it was.
func TestDotReaderSizeLimit(t *testing.T) {
	body := "ab\r\n..c\r\nd\ne\r\n" // 13 octets after unstuffing, 14 stored
	for _, c := range []struct {
		max     int64
		tooBig  bool
		callLen int
	}{
		{13, false, 4096}, {13, false, 1}, {14, false, 3}, {12, true, 4096}, {12, true, 1}, {10, true, 3}, {1, true, 2},
	} {
		br := bufio.NewReaderSize(&chunked{b: []byte(body + ".\r\nNOOP\r\n"), n: 5}, 16)
		d := newDotReader(br, maxLineLength, c.max)
		p := make([]byte, c.callLen)
		var out []byte
		var err error
		for err == nil {
			var n int
			n, err = d.Read(p)
			out = append(out, p[:n]...)
		}
		var r *Reply
		if c.tooBig {
			if !errors.As(err, &r) || r.Code != 552 || r.Enhanced != [3]int{5, 3, 4} {
				t.Fatalf("max %d: %v, want 552 5.3.4", c.max, err)
			}
			if want := refLF([]byte("ab\r\n.c\r\nd\ne\r\n"[:c.max])); !bytes.Equal(out, want) && !bytes.Equal(append(out, '\n'), want) {
				t.Errorf("max %d: gave out %q before the refusal, want %q", c.max, out, want)
			}
			if derr := d.drain(); derr != nil {
				t.Fatalf("drain: %v", derr)
			}
		} else if err != io.EOF || string(out) != "ab\r\n.c\r\nd\r\ne\r\n" {
			t.Fatalf("max %d, reads of %d: %q, %v", c.max, c.callLen, out, err)
		}
		if rest, _ := io.ReadAll(br); string(rest) != "NOOP\r\n" {
			t.Errorf("max %d: left %q for the next command", c.max, rest)
		}
	}
}

// FuzzBDATLineEnds sends a message in BDAT chunks cut anywhere (a CR in
// one, its LF in the next) and reads it in pieces of any size: the
// handler gets the message with each bare LF made CRLF, and nothing else
// changed.
func FuzzBDATLineEnds(f *testing.F) {
	f.Add([]byte("a\r\nb\nc\r\r\n\n"), []byte{2, 1, 3}, uint8(1))
	f.Add([]byte("\n\n\r\n\r"), []byte{1, 0, 1}, uint8(0))
	f.Fuzz(func(t *testing.T, msg, cuts []byte, call uint8) {
		var script bytes.Buffer
		script.WriteString("EHLO c\r\nMAIL FROM:<s@a.test>\r\nRCPT TO:<r@b.test>\r\n")
		rest := msg
		for _, c := range cuts {
			n := min(int(c), len(rest))
			fmt.Fprintf(&script, "BDAT %d\r\n%s", n, rest[:n])
			rest = rest[n:]
		}
		fmt.Fprintf(&script, "BDAT %d LAST\r\n%s", len(rest), rest)
		h := &protoRecorder{read: func(r io.Reader) ([]byte, error) {
			var out []byte
			p := make([]byte, 1+int(call)%70)
			for {
				n, err := r.Read(p)
				out = append(out, p[:n]...)
				if err == io.EOF {
					return out, nil
				}
				if err != nil {
					return out, err
				}
			}
		}}
		c := &scriptConn{txn: script.Bytes(), left: 1}
		c.r.Reset(c.txn)
		p := testProtocol()
		p.MaxMessageBytes = 0
		ServeConn(c, h, p)
		if m := h.messages(); len(m) != 1 || !bytes.Equal([]byte(m[0]), refLF(msg)) {
			t.Fatalf("%q in chunks %v: the handler got %q, want %q", msg, cuts, m, refLF(msg))
		}
	})
}
