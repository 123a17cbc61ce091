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

// refLF is the rule itself, octet by octet: every LF not preceded by CR
// gets one, nothing else changes.
func refLF(in []byte) []byte {
	var out []byte
	for i, c := range in {
		if c == '\n' && (i == 0 || in[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// FuzzCRLFReader checks the span-copying reader against the rule itself,
// octet by octet: every LF not preceded by CR gets one, nothing else
// changes, however the input arrives and however small the reads.
func FuzzCRLFReader(f *testing.F) {
	for _, s := range []string{"a\nb\r\nc\rd\n", "\n\n\r\n\r\r\n", "x", ""} {
		f.Add([]byte(s), uint8(3), uint8(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, src, call uint8) {
		want := refLF(in)
		r := newCRLFReader(&chunked{b: in, n: 1 + int(src)})
		p := make([]byte, 1+int(call))
		var got []byte
		for {
			n, err := r.Read(p)
			got = append(got, p[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if string(got) != string(want) {
			t.Fatalf("%q became %q, want %q", in, got, want)
		}
	})
}
