package deliver

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestLFReaderTurnsCRLFIntoLFAndKeepsBareCR(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", ""},
		{"crlf lines", "Subject: x\r\n\r\nbody\r\n", "Subject: x\n\nbody\n"},
		{"bare cr kept", "a\rb\r\n", "a\rb\n"},
		{"cr at end kept", "a\r", "a\r"},
		{"lf only", "a\nb\n", "a\nb\n"},
		{"double cr", "a\r\r\n", "a\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, wrap := range []func(io.Reader) io.Reader{
				func(r io.Reader) io.Reader { return r },
				iotest.OneByteReader,
				iotest.HalfReader,
			} {
				got, err := io.ReadAll(newLFReader(wrap(strings.NewReader(tc.in))))
				if err != nil || string(got) != tc.want {
					t.Errorf("got %q, %v; want %q", got, err, tc.want)
				}
			}
		})
	}
}

func TestLFReaderAcrossTheBufferBoundary(t *testing.T) {
	// A CRLF split by the 64 KiB buffer must still become one LF.
	in := strings.Repeat("x", 64<<10-1) + "\r\n" + strings.Repeat("y", 100) + "\r\n"
	got, err := io.ReadAll(newLFReader(iotest.HalfReader(strings.NewReader(in))))
	want := strings.ReplaceAll(in, "\r\n", "\n")
	if err != nil || string(got) != want {
		t.Errorf("len %d, %v; want len %d", len(got), err, len(want))
	}
}
