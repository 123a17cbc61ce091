package smtpd

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestCRLFReaderNormalisesBareLF(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\rb\r\n", "a\rb\r\n"},
		{"\n\n\r\n", "\r\n\r\n\r\n"},
		{"x\n.\nmore\r\n", "x\r\n.\r\nmore\r\n"},
		{"", ""},
	} {
		for name, r := range map[string]io.Reader{
			"whole":    newCRLFReader(strings.NewReader(c.in)),
			"one byte": newCRLFReader(iotest.OneByteReader(strings.NewReader(c.in))),
			"half":     newCRLFReader(iotest.HalfReader(strings.NewReader(c.in))),
		} {
			got, err := io.ReadAll(r)
			if err != nil || string(got) != c.want {
				t.Errorf("%s %q = %q, %v; want %q", name, c.in, got, err, c.want)
			}
		}
		// A reader whose caller asks for one byte at a time.
		r := newCRLFReader(strings.NewReader(c.in))
		var b strings.Builder
		p := make([]byte, 1)
		for {
			n, err := r.Read(p)
			b.Write(p[:n])
			if err != nil {
				break
			}
		}
		if b.String() != c.want {
			t.Errorf("1-byte reads of %q = %q, want %q", c.in, b.String(), c.want)
		}
	}
	// A CRLF split across two reads stays one line end.
	if err := iotest.TestReader(newCRLFReader(strings.NewReader(strings.Repeat("ab\r\n", 3000))), []byte(strings.Repeat("ab\r\n", 3000))); err != nil {
		t.Error(err)
	}
}
