package smtpd

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ebbmail/ebb/internal/envaddr"
)

// FuzzReceived: whatever HELO name checkHelo lets through and whatever
// recipient envaddr accepts, the Received header ebb writes is a header
// (RFC 5322 §2.2, §3.6.7; RFC 6532 for UTF-8): valid UTF-8, CRLF line ends,
// every line after the first folded with a tab, no control character, no
// line over 998 octets.
func FuzzReceived(f *testing.F) {
	for _, s := range [][2]string{
		{"client.example.org", "alice@example.test"},
		{"evil\x01.example", "a\x01@example.test"},
		{"(comment) \\ ;", "b@[127.0.0.1]"},
		{"jürgen.example", "jürgen@bücher.example"},
		{strings.Repeat("h", 400), strings.Repeat("l", 64) + "@example.test"},
		{"a\r\nX-Injected: 1", "x@y\r\nBcc: z"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, helo, rcpt string) {
		if checkHelo(helo) != nil {
			return
		}
		rcpts := []string{rcpt}
		if _, err := envaddr.Parse(rcpt); err != nil {
			rcpts = []string{"alice@example.test"}
		}
		info := &SessionInfo{Helo: helo, RemoteIP: "127.0.0.2", TLS: &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256}}
		h := string(received(info, "mx.example.test", "abc.1", rcpts, true, time.Unix(0, 0)))
		if !utf8.ValidString(h) || !strings.HasSuffix(h, "\r\n") {
			t.Fatalf("not a header: %q", h)
		}
		lines := strings.Split(strings.TrimSuffix(h, "\r\n"), "\r\n")
		for i, l := range lines {
			if i > 0 && !strings.HasPrefix(l, "\t") {
				t.Fatalf("line %d not folded: %q in %q", i, l, h)
			}
			if len(l) > 998 {
				t.Fatalf("line %d has %d octets", i, len(l))
			}
			for _, r := range l {
				if r != '\t' && unicode.IsControl(r) {
					t.Fatalf("control character %q in %q", r, h)
				}
			}
		}
		if !strings.HasPrefix(lines[0], "Received: from ") {
			t.Fatalf("first line %q", lines[0])
		}
	})
}
