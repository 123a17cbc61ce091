package mailhdr

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

// The queue stores every message through Normalise: its cost per message
// beside a plain copy, at 64 KiB with a typical header (15 fields).
func BenchmarkNormalise64K(b *testing.B) {
	var m bytes.Buffer
	for i := 0; i < 15; i++ {
		m.WriteString("X-Field-" + strings.Repeat("a", i) + ": some value of a header field, about sixty bytes long\r\n")
	}
	m.WriteString("\r\n")
	for m.Len() < 64<<10 {
		m.WriteString(strings.Repeat("body text ", 7) + "\r\n")
	}
	msg := m.Bytes()
	buf := make([]byte, 64<<10)
	br := bufio.NewReaderSize(nil, 64<<10)
	b.SetBytes(int64(len(msg)))
	b.Run("copy", func(b *testing.B) {
		for range b.N {
			br.Reset(bytes.NewReader(msg))
			io.CopyBuffer(io.Discard, struct{ io.Reader }{br}, buf)
		}
	})
	b.Run("normalise", func(b *testing.B) {
		for range b.N {
			br.Reset(bytes.NewReader(msg))
			io.CopyBuffer(io.Discard, Normalise(br), buf)
		}
	})
}
