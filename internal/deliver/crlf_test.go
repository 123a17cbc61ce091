package deliver

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
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

// Every Maildir file has one line-end style: the CRLF prefix (Received and
// the checks' header lines, as the queue keeps them), Return-Path,
// Delivered-To and a CRLF message on stdin all become LF, and S=/W= count
// the stored bytes.
func TestStoredFileHasOnlyLF(t *testing.T) {
	for _, msg := range []string{"Subject: x\r\n\r\nbody\r\nline\r\n", "Subject: x\n\nbody\n", "not a header\r\nbody\r\n"} {
		a, root := newAgent(t)
		env := Envelope{Sender: "s@example.org", Recipient: "alice@example.com", Headers: []string{"X-A: 1"},
			Prefix: []byte("Authentication-Results: mx; spf=pass\r\nReceived: from a ([127.0.0.1])\r\n\tby mx (ebb); Tue, 1 Dec 2026 10:00:00 +0000\r\n")}
		if _, err := a.Deliver(context.Background(), strings.NewReader(msg), env); err != nil {
			t.Fatal(err)
		}
		files := newFiles(t, filepath.Join(root, "example.com", "alice", "Maildir"))
		if len(files) != 1 {
			t.Fatalf("stored %v", files)
		}
		got, _ := os.ReadFile(files[0])
		if strings.Contains(string(got), "\r") {
			t.Errorf("stored file has a CR:\n%q", got)
		}
		lines := strings.Count(string(got), "\n")
		if !strings.Contains(files[0], ",S="+strconv.Itoa(len(got))+",W="+strconv.Itoa(len(got)+lines)) {
			t.Errorf("name %s: want S=%d W=%d", files[0], len(got), len(got)+lines)
		}
	}
}

// lfReference is the definition: every CR followed by LF goes, every other
// byte stays.
func lfReference(in []byte) []byte {
	var out []byte
	for i, c := range in {
		if c == '\r' && i+1 < len(in) && in[i+1] == '\n' {
			continue
		}
		out = append(out, c)
	}
	return out
}

func FuzzLFReader(f *testing.F) {
	for _, s := range []string{"", "a\r\nb", "\r", "\r\r\n", "a\rb\r\n\r", "\r\n\r\n", strings.Repeat("x\r\n", 100)} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, in []byte, how uint8) {
		wraps := []func(io.Reader) io.Reader{
			func(r io.Reader) io.Reader { return r },
			iotest.OneByteReader,
			iotest.HalfReader,
			iotest.DataErrReader,
		}
		r := wraps[int(how)%len(wraps)](strings.NewReader(string(in)))
		got, err := io.ReadAll(newLFReader(r))
		if err != nil {
			t.Fatal(err)
		}
		if want := lfReference(in); string(got) != string(want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

// BenchmarkLFReader: a 64 KiB message of 78-octet CRLF lines.
func BenchmarkLFReader(b *testing.B) {
	in := strings.Repeat(strings.Repeat("x", 76)+"\r\n", 64<<10/78)
	b.SetBytes(int64(len(in)))
	buf := make([]byte, 32<<10)
	for b.Loop() {
		r := newLFReader(strings.NewReader(in))
		for {
			if _, err := r.Read(buf); err != nil {
				break
			}
		}
		r.release()
	}
}
