package deliver

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/arfield"
	"github.com/ebbmail/ebb/internal/mailhdr"
)

func TestHeaderView(t *testing.T) {
	in := "Delivered-To: a@b\r\nSubject: folded\r\n  over two lines\r\nX-Empty:\r\nDelivered-To: <c@d>\r\n\r\nDelivered-To: not@header\r\n"
	v := readHeaderView(strings.NewReader(in))
	if strings.Join(v.deliveredTos, ",") != "a@b,<c@d>" {
		t.Errorf("Delivered-To %q", v.deliveredTos)
	}
	if v.header.Value("Subject") != "folded  over two lines" || len(v.header.Fields) != 4 || v.header.Size != int64(len(in))-len64("Delivered-To: not@header\r\n") {
		t.Errorf("header %+v", v.header)
	}
	// Memory stays bounded for a huge header, and a Delivered-To after it
	// is still found.
	v = readHeaderView(strings.NewReader(strings.Repeat("X-Huge: "+strings.Repeat("h", 60<<10)+"\n", 40) + "Delivered-To: late@x\n\n"))
	if strings.Join(v.deliveredTos, ",") != "late@x" || len(v.header.Fields) > 20 {
		t.Errorf("huge header: %d fields kept, Delivered-To %q", len(v.header.Fields), v.deliveredTos)
	}
}

// The header is read in reads of a header's size (smallReads) but into
// the usual buffer: what comes out is what a reader of the whole buffer
// finds, for fields and names longer than one read, a header that ends at
// text, a missing header and an mbox line.
func TestHeaderViewReadsAsTheWholeBuffer(t *testing.T) {
	long := strings.Repeat("n", 5000)
	for _, in := range []string{
		"Subject: " + strings.Repeat("s", 9000) + "\r\n folded " + strings.Repeat("t", 5000) + "\r\nDelivered-To: x@y\r\n\r\nbody",
		"X-" + long + ": value\r\nDelivered-To: after@long\r\n\r\n",
		long + " no colon here\r\nDelivered-To: not@header\r\n\r\n",
		"A: b\r\nthis line is text\r\nDelivered-To: body@x\r\n",
		"From sender Mon Dec  7 00:00:00 2026\nDelivered-To: m@x\nSubject: mbox\n\nbody\n",
		"\r\nDelivered-To: body@x\r\n",
		strings.Repeat("X-Many: "+strings.Repeat("v", 700)+"\r\n", 30) + "Delivered-To: far@x\r\n\r\n",
	} {
		got := readHeaderView(strings.NewReader(in))
		s := mailhdr.NewScanner(bufio.NewReaderSize(strings.NewReader(in), 64<<10))
		var want []mailhdr.Field
		var tos []string
		for s.Scan() {
			f := s.Field()
			want = append(want, f)
			if f.Is("Delivered-To") {
				tos = append(tos, f.Value())
			}
		}
		if len(got.header.Fields) != len(want) || strings.Join(got.deliveredTos, ",") != strings.Join(tos, ",") ||
			got.header.Size != s.Offset() || got.header.NoHeader != s.NoHeader() || string(got.header.Separator) != string(s.Separator()) {
			t.Fatalf("%.40q: got %d fields %q size %d, want %d fields %q size %d", in, len(got.header.Fields), got.deliveredTos, got.header.Size, len(want), tos, s.Offset())
		}
		for i := range want {
			if string(got.header.Fields[i].Raw) != string(want[i].Raw) {
				t.Fatalf("%.40q: field %d %.40q, want %.40q", in, i, got.header.Fields[i].Raw, want[i].Raw)
			}
		}
	}
}

func len64(s string) int64 { return int64(len(s)) }

// The loop check compares addresses as mailhdr reads them.
func TestLoopAddress(t *testing.T) {
	for _, same := range [][2]string{
		{"bob@example.org", "<Bob@Example.ORG>"},
		{`"bob"@example.org`, "bob@example.org"},
		{"bob@example.org", " bob@example.org (looped) "},
		{"bob", "<bob>"},
	} {
		if loopAddress(same[0]) != loopAddress(same[1]) {
			t.Errorf("%q and %q compare as %q and %q", same[0], same[1], loopAddress(same[0]), loopAddress(same[1]))
		}
	}
	if loopAddress("bob@example.org") == loopAddress("bob@example.net") {
		t.Error("different addresses compare equal")
	}
}

func filtered(t *testing.T, in string, env Envelope) string {
	t.Helper()
	out, err := io.ReadAll(untrustedFilter(bufio.NewReader(strings.NewReader(in)), env))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// Authentication-Results claiming our authserv-id are dropped, others'
// kept; "Authentication-Results :" (RFC 5322 §4.5) is one too.
func TestUntrustedDropsOurAuthResults(t *testing.T) {
	in := "Received: from x\r\n" +
		"Authentication-Results: mx.example.net; dkim=pass header.d=bank.test\r\n" +
		"Authentication-Results: (forged) MX.Example.NET;\r\n\tspf=pass\r\n" +
		"Authentication-Results: \"mx.example.net\"; dmarc=pass\r\n" +
		"Authentication-Results: other.example; spf=fail\r\n" +
		"Authentication-Results : mx.example.net; dmarc=pass\r\n" +
		"Subject: hi\r\n\tthere\r\n" +
		"\r\n" +
		"Authentication-Results: mx.example.net; in the body stays\r\n"
	want := "Received: from x\r\n" +
		"Authentication-Results: other.example; spf=fail\r\n" +
		"Subject: hi\r\n\tthere\r\n" +
		"\r\n" +
		"Authentication-Results: mx.example.net; in the body stays\r\n"
	if got := filtered(t, in, Envelope{StripAuthResults: "mx.example.net"}); got != want {
		t.Errorf("got:\n%q\nwant:\n%q", got, want)
	}
	// A field too long to hold whose id is not in its first MaxField
	// bytes is dropped; long other fields stream whole.
	long := "X-Long: " + strings.Repeat("a", 200<<10) + "\r\n"
	in = long + "Authentication-Results: (" + strings.Repeat("c", 100<<10) + ") mx.example.net; spf=pass\r\n\r\nbody\r\n"
	if got := filtered(t, in, Envelope{StripAuthResults: "mx.example.net"}); got != long+"\r\nbody\r\n" {
		t.Errorf("long: got %d bytes, starts %q", len(got), got[:min(len(got), 40)])
	}
	if got := filtered(t, in, Envelope{}); got != in {
		t.Error("nothing asked, something changed")
	}
}

// Issue 24: verdict fields the sender wrote are renamed, whether or not a
// scanner ran; ebb's own come in the prefix.
func TestUntrustedRenamesVerdicts(t *testing.T) {
	in := "From x@y Mon Jan 1\n" +
		"X-Spam-Status: No, score=-5.0 required=5.0\n" +
		"X-Spam-Flag: NO\nX-Spamd-Result: default: False [0.0 / 15.0]\nX-Rspamd-Action: no action\n" +
		"X-Virus-Status: Clean\nx-virus-scanned: ClamAV\nX-Ebb-Scan: spamd=ham (forged)\n" +
		"X-Ebb-Untrusted-X-Spam-Flag: YES\nX-Spammer: not a verdict\nSubject: s\n\nX-Spam-Flag: NO\n"
	want := "From x@y Mon Jan 1\n" +
		"X-Ebb-Untrusted-X-Spam-Status: No, score=-5.0 required=5.0\n" +
		"X-Ebb-Untrusted-X-Spam-Flag: NO\nX-Ebb-Untrusted-X-Spamd-Result: default: False [0.0 / 15.0]\nX-Ebb-Untrusted-X-Rspamd-Action: no action\n" +
		"X-Ebb-Untrusted-X-Virus-Status: Clean\nX-Ebb-Untrusted-x-virus-scanned: ClamAV\nX-Ebb-Untrusted-X-Ebb-Scan: spamd=ham (forged)\n" +
		"X-Ebb-Untrusted-X-Spam-Flag: YES\nX-Spammer: not a verdict\nSubject: s\n\nX-Spam-Flag: NO\n"
	if got := filtered(t, in, Envelope{RenameVerdicts: true}); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// FuzzUntrustedFilter: what the filter leaves holds no Authentication-
// Results of ours and no verdict field by mailhdr's reading (the one every
// part uses); it never grows the message but by the renamings, is
// idempotent, and asked nothing changes nothing.
func FuzzUntrustedFilter(f *testing.F) {
	f.Add([]byte("Authentication-Results: mx.example.net; spf=pass\r\nSubject: x\r\n\r\nbody\r\n"))
	f.Add([]byte("Authentication-Results: (c) \"MX.example.net\";\n\tdkim=pass\nX: y\n\nAuthentication-Results: mx.example.net\n"))
	f.Add([]byte(" lead\r\nAuthentication-Results:mx.example.net\r\n\tmore\r\nbody without blank line"))
	f.Add([]byte("X-Spam-Flag: YES\r\nno field\r\nX-Virus-Status : Clean\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		const id = "mx.example.net"
		env := Envelope{StripAuthResults: id, RenameVerdicts: true}
		run := func(b []byte, env Envelope) []byte {
			out, err := io.ReadAll(untrustedFilter(bufio.NewReader(bytes.NewReader(b)), env))
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		out := run(in, env)
		if again := run(out, env); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
		h, _ := mailhdr.Read(bufio.NewReader(bytes.NewReader(out)), 1<<30)
		for _, fl := range h.Fields {
			if fl.Is("Authentication-Results") && arfield.AuthservID(fl.RawValue()) == id {
				t.Fatalf("left one of ours: %q in %q", fl.Raw, out)
			}
			if isVerdictField(fl.Name) {
				t.Fatalf("left a verdict field: %q in %q", fl.Raw, out)
			}
		}
		if same := run(in, Envelope{}); !bytes.Equal(same, in) {
			t.Fatal("nothing asked changed the message")
		}
	})
}

// BenchmarkHeaderViewOfFile: the header of a staged 64 KiB message read
// from its file, as staged.header does once per delivery.
func BenchmarkHeaderViewOfFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "staged")
	msg := "From: <a@example.org>\nTo: <b@example.test>\nSubject: bench\nMessage-Id: <1@example.org>\n\n" +
		strings.Repeat(strings.Repeat("x", 77)+"\n", 64<<10/78)
	if err := os.WriteFile(path, []byte(msg), 0o600); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if v := readHeaderView(f); len(v.header.Fields) != 4 {
			b.Fatalf("%d fields", len(v.header.Fields))
		}
		f.Close()
	}
}
