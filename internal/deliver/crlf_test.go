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
