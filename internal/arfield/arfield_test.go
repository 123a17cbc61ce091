package arfield

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestStripReaderRemovesOnlyOurs(t *testing.T) {
	in := "Received: from x\r\n" +
		"Authentication-Results: mx.example.net; dkim=pass header.d=bank.test\r\n" +
		"Authentication-Results: (forged) MX.Example.NET;\r\n\tspf=pass\r\n" +
		"Authentication-Results: \"mx.example.net\"; dmarc=pass\r\n" +
		"Authentication-Results: other.example; spf=fail\r\n" +
		"Subject: hi\r\n\tthere\r\n" +
		"\r\n" +
		"Authentication-Results: mx.example.net; in the body stays\r\n"
	want := "Received: from x\r\n" +
		"Authentication-Results: other.example; spf=fail\r\n" +
		"Subject: hi\r\n\tthere\r\n" +
		"\r\n" +
		"Authentication-Results: mx.example.net; in the body stays\r\n"
	got, err := io.ReadAll(StripReader(strings.NewReader(in), "mx.example.net"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("got:\n%q\nwant:\n%q", got, want)
	}
	// A field too long to hold is dropped; long other lines stream whole.
	long := "X-Long: " + strings.Repeat("a", 200<<10) + "\r\n"
	in = long + "Authentication-Results: (" + strings.Repeat("c", 100<<10) + ") mx.example.net; spf=pass\r\n\r\nbody\r\n"
	got, _ = io.ReadAll(StripReader(strings.NewReader(in), "mx.example.net"))
	if string(got) != long+"\r\nbody\r\n" {
		t.Errorf("long: got %d bytes, starts %q", len(got), got[:min(len(got), 40)])
	}
}

func TestAuthservID(t *testing.T) {
	for in, want := range map[string]string{
		" mx.example.net; spf=pass":      "mx.example.net",
		" mx.example.net 1; none":        "mx.example.net",
		" (c (nested)) Mx.Example.Net;":  "mx.example.net",
		"\r\n\t\"quoted\\\"id\"; none":   "quoted\"id",
		" (unterminated mx.example.net;": "",
		"":                               "",
	} {
		if got := AuthservID(in); got != want {
			t.Errorf("AuthservID(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzStripReader: stripping never grows the message, is idempotent,
// leaves nothing of ours by headerFields' reading (a test-local copy of
// the rules of msgauth's header reader, which this package cannot import;
// msgauth's FuzzStripReaderByReadHeader checks with the real one), and an
// empty id changes nothing.
func FuzzStripReader(f *testing.F) {
	f.Add([]byte("Authentication-Results: mx.example.net; spf=pass\r\nSubject: x\r\n\r\nbody\r\n"))
	f.Add([]byte("Authentication-Results: (c) \"MX.example.net\";\n\tdkim=pass\nX: y\n\nAuthentication-Results: mx.example.net\n"))
	f.Add([]byte(" lead\r\nAuthentication-Results:mx.example.net\r\n\tmore\r\nbody without blank line"))
	f.Fuzz(func(t *testing.T, in []byte) {
		const id = "mx.example.net"
		out, err := io.ReadAll(StripReader(bytes.NewReader(in), id))
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > len(in) {
			t.Fatalf("grew: %d > %d", len(out), len(in))
		}
		again, _ := io.ReadAll(StripReader(bytes.NewReader(out), id))
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
		for _, fl := range headerFields(out) {
			if IsAuthResults(fl[0]) && AuthservID(fl[1]) == id {
				t.Fatalf("left one of ours: %q in %q", fl[1], out)
			}
		}
		same, _ := io.ReadAll(StripReader(bytes.NewReader(in), ""))
		if !bytes.Equal(same, in) {
			t.Fatal("an empty id changed the message")
		}
	})
}

// headerFields splits the header at the start of msg into name and
// value-as-written pairs by the rules of msgauth's readHeader (up to the
// empty line, or the first line that is neither a field nor a
// continuation), but with no size limit. It is the test's oracle, not the
// reader the checks use.
func headerFields(msg []byte) [][2]string {
	var out [][2]string
	for _, line := range bytes.SplitAfter(msg, []byte("\n")) {
		trimmed := bytes.TrimRight(line, "\r\n")
		switch {
		case len(trimmed) == 0:
			return out
		case line[0] == ' ' || line[0] == '\t':
			if len(out) > 0 {
				out[len(out)-1][1] += string(line)
			}
		default:
			i := bytes.IndexByte(trimmed, ':')
			if i <= 0 || !IsFieldName(trimmed[:i]) {
				return out
			}
			out = append(out, [2]string{string(trimmed[:i]), string(line[i+1:])})
		}
	}
	return out
}
