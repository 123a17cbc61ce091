package fetch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/fetchstate"
)

// unstuff is the plain reading of RFC 1939 §3: lines up to the "." line,
// a leading "." removed from the others.
func unstuff(wire []byte) ([]byte, bool) {
	var out []byte
	for len(wire) > 0 {
		i := bytes.IndexByte(wire, '\n')
		if i < 0 {
			return out, false
		}
		line := wire[:i+1]
		wire = wire[i+1:]
		if string(line) == ".\r\n" || string(line) == ".\n" {
			return out, true
		}
		out = append(out, bytes.TrimPrefix(line, []byte("."))...)
	}
	return out, false
}

func TestDotReaderUnstuffsAndKeepsCRLF(t *testing.T) {
	cases := []struct{ wire, want string }{
		{"Subject: a\r\n\r\nbody\r\n.\r\n", "Subject: a\r\n\r\nbody\r\n"},
		{"..leading dot\r\n...two\r\n.\r\n", ".leading dot\r\n..two\r\n"},
		{"lf only\n.\n", "lf only\n"},
		{".\r\n", ""},
		{"a.\r\n.b\r\n.\r\nNEXT", "a.\r\nb\r\n"},
	}
	for _, c := range cases {
		got, err := io.ReadAll(&dotReader{r: bufio.NewReader(strings.NewReader(c.wire)), bol: true})
		if err != nil || string(got) != c.want {
			t.Errorf("dotReader(%q) = %q, %v; want %q", c.wire, got, err, c.want)
		}
	}
	// A connection that ends before the "." line is an error, not a message.
	if _, err := io.ReadAll(&dotReader{r: bufio.NewReader(strings.NewReader("cut\r\nshort")), bol: true}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: %v; want ErrUnexpectedEOF", err)
	}
}

// Lines longer than the buffer stream through in pieces (memory stays
// flat) and a dot in the middle of a long line is not a line start.
func TestDotReaderLongLines(t *testing.T) {
	long := strings.Repeat("x", 200000) + ".\r\n"
	wire := long + "..after\r\n.\r\n"
	got, err := io.ReadAll(&dotReader{r: bufio.NewReaderSize(strings.NewReader(wire), 16), bol: true})
	if err != nil || string(got) != long+".after\r\n" {
		t.Fatalf("long line: %d bytes, %v", len(got), err)
	}
}

func FuzzDotReader(f *testing.F) {
	for _, s := range []string{"a\r\n.\r\n", "..x\r\n.\r\n", "\n.\n", "x", ".\r\n.\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		want, complete := unstuff(wire)
		got, err := io.ReadAll(&dotReader{r: bufio.NewReaderSize(bytes.NewReader(wire), 16), bol: true})
		if complete {
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("dotReader(%q) = %q, %v; want %q", wire, got, err, want)
			}
		} else if err == nil {
			t.Fatalf("dotReader(%q) ended without the terminating line and no error", wire)
		}
	})
}

func TestMessageHashIsOfIDDateAndSize(t *testing.T) {
	full := []byte("Received: x\r\nMessage-ID: <a@b>\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\nSubject: s\r\n\r\nbody")
	fields := []byte("Message-ID: <a@b>\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n\r\n")
	if messageHash(full, 100) != messageHash(fields, 100) {
		t.Fatal("the streamed header and HEADER.FIELDS give different hashes")
	}
	if messageHash(full, 100) == messageHash(full, 101) {
		t.Fatal("size is not in the hash")
	}
	if messageHash([]byte("Message-ID: <c@d>\r\n\r\n"), 100) == messageHash(fields, 100) {
		t.Fatal("Message-ID is not in the hash")
	}
	// Without a Message-ID there is no identity: Date and size are shared.
	if h := messageHash([]byte("Date: Tue, 1 Dec 2026 10:00:00 +0000\r\n\r\n"), 100); h != "" {
		t.Fatalf("a message without Message-ID has the identity %q", h)
	}
}

func FuzzMessageHash(f *testing.F) {
	f.Add([]byte("Message-ID: <a@b>\r\n\r\n"), int64(5))
	f.Fuzz(func(t *testing.T, h []byte, n int64) {
		if got := messageHash(h, n); len(got) != 32 && got != "" {
			t.Fatalf("hash %q", got)
		}
	})
}

func TestReceivedHeaderIsOneSafeHeader(t *testing.T) {
	f := &Fetcher{Hostname: "mx.example.test"}
	a := &fetchstate.FetchAccount{Name: "wo)rk\r\nX-Evil: 1", Host: "imap.example.net", Port: 993, Username: "al(ice", Mailbox: "alice@example.test"}
	h := f.received(origin{a: a, proto: "IMAPS", folder: "IN\nBOX", uidvalidity: 7, uid: "42"}, "QID", time.Unix(0, 0))
	if strings.Count(h, "\r\n") != 4 || strings.Contains(h, "\nX-Evil") || !strings.Contains(h, "uid 7/42") || !strings.HasPrefix(h, "Received: from imap.example.net (imap.example.net:993)") {
		t.Fatalf("header:\n%s", h)
	}
}

func TestBackoffDoublesUpToTheMax(t *testing.T) {
	for _, c := range []struct {
		n      int
		lo, hi time.Duration
	}{{1, 27 * time.Second, 33 * time.Second}, {2, 54 * time.Second, 66 * time.Second}, {30, 54 * time.Minute, 66 * time.Minute}} {
		if d := backoff(30*time.Second, time.Hour, c.n); d < c.lo || d > c.hi {
			t.Errorf("backoff after %d failures = %s; want %s..%s", c.n, d, c.lo, c.hi)
		}
	}
}

func TestErrorsNameTheRealCause(t *testing.T) {
	a := &fetchstate.FetchAccount{Name: "w", Host: "imap.example.net", Port: 993}
	self := &x509.Certificate{}
	cases := []struct {
		err   error
		cause string
		words string
	}{
		{&net.DNSError{Err: "no such host", Name: "imap.example.net", IsNotFound: true}, CauseDNS, "no such host"},
		{&net.OpError{Op: "dial", Err: &net.OpError{Err: syscall.ECONNREFUSED}}, CauseConnect, "connection refused"},
		{&tls.CertificateVerificationError{UnverifiedCertificates: []*x509.Certificate{self}, Err: x509.UnknownAuthorityError{Cert: self}}, CauseTLS, "self-signed"},
		{x509.HostnameError{Certificate: self, Host: "imap.example.net"}, CauseTLS, "not valid for the name imap.example.net"},
		{context.DeadlineExceeded, CauseTimeout, "fetch.timeout"},
		{io.ErrUnexpectedEOF, CauseServer, "the server closed the connection"},
		{fail(CauseLogin, "log in", errors.New("the server refused the login: [AUTHENTICATIONFAILED] nope"), because("check")), CauseLogin, "[AUTHENTICATIONFAILED] nope"},
	}
	for _, c := range cases {
		de := asDiag(c.err, a)
		if de.Op != c.cause || !strings.Contains(de.Sentence(), c.words) {
			t.Errorf("%T: cause %q, %q; want %q with %q", c.err, de.Op, de.Sentence(), c.cause, c.words)
		}
	}
}

// The guard finds literals at line ends and ends a connection whose
// server goes past a bound, before go-imap buffers it.
func TestGuardBounds(t *testing.T) {
	for _, c := range []struct {
		tail string
		n    int64
		ok   bool
	}{{"BODY[] {12}\r", 12, true}, {"x {5+}", 5, true}, {"{0}\r", 0, true}, {"no literal\r", 0, false}, {"{}\r", 0, false},
		{"a{12}", 12, true}, {"{99999999999999999999999}", 1<<63 - 1, true}, {"12}", 0, false}} {
		n, ok := literalAtEnd([]byte(c.tail))
		if n != c.n || ok != c.ok {
			t.Errorf("literalAtEnd(%q) = %d, %v; want %d, %v", c.tail, n, ok, c.n, c.ok)
		}
	}
	g := newGuardConn(nil, 100, nil)
	if err := g.scan([]byte("* 1 FETCH (BODY[] {50}\r\n" + strings.Repeat("x", 50) + ")\r\n")); err != nil {
		t.Fatalf("a literal within the limit: %v", err)
	}
	if err := g.scan([]byte("* 1 FETCH (BODY[] {2000000}\r\n")); err == nil {
		t.Fatal("a literal over the limit passes")
	}
	g = newGuardConn(nil, 100, nil)
	if err := g.scan([]byte("* OK [CAPABILITY IMAP4rev1 IDLE] Dovecot (Debian) ready.\r\n")); err != nil {
		t.Fatalf("Dovecot's greeting: %v", err)
	}
	if err := g.scan([]byte("* CAPABILITY IMAP4rev1 (")); err == nil {
		t.Fatal("a ( in a capability list passes")
	}
	// Only "* CAPABILITY" at a line's start and "[CAPABILITY" open a
	// capability list; a "(" after the word elsewhere is no trouble.
	for _, c := range []struct {
		reply string
		bad   bool
	}{
		{"T1 OK Capability completed (0.001 + 0.000 secs).\r\n", false}, // Dovecot 2.3 after STARTTLS
		{"T1 OK CAPABILITY completed (0.001 + 0.000 secs).\r\n", false},
		{"* OK capability (whatever)\r\n", false},
		{"* CAPABILITYX (\r\n", false},
		{"* 3 FETCH (BODY[] {14}\r\n* CAPABILITY (\r\n)\r\n", false}, // inside a literal
		{"T2 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n* CAPABILITY IMAP4rev1 IDLE\r\n", false},
		{"* capability imap4rev1 (\r\n", true},
		{"T2 OK [CAPABILITY IMAP4rev1 (] Logged in\r\n", true},
		{"* OK [Capability (x] hello\r\n", true},
	} {
		g := newGuardConn(nil, 100, nil)
		if err := g.scan([]byte(c.reply)); (err != nil) != c.bad {
			t.Errorf("%q: %v; want an error: %v", c.reply, err, c.bad)
		}
	}
}
