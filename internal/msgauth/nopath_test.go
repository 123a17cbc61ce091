package msgauth

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A failed open of the spool file is described without its path.
func TestNoPath(t *testing.T) {
	_, err := os.Open("/nonexistent/spool/msg-123")
	got := noPath(err)
	if strings.Contains(got, "/nonexistent") || !strings.Contains(got, "open") {
		t.Fatalf("noPath = %q", got)
	}
	if got := noPath(errors.New("plain")); got != "plain" {
		t.Fatalf("noPath(plain) = %q", got)
	}
}

// A spool file that cannot be read is our trouble: temperror, and the
// reason in the header names no path. A directory opens but fails every
// read (EISDIR), a real read error after a successful open.
func TestReadErrorIsTemperrorWithoutPath(t *testing.T) {
	dir := t.TempDir()
	c := &Checker{Resolver: nxResolver{}}
	facts := headerFacts{nsigs: 1, sigs: []map[string]string{parseTags("v=1; a=ed25519-sha256; d=example.org; s=s; h=from; bh=AAAA; b=AAAAAAAAAA")}}
	got, _ := c.dkim(context.Background(), dir, facts)
	if len(got) != 1 || got[0].Result != "temperror" || strings.Contains(got[0].Reason, dir) || !strings.Contains(got[0].Reason, "read") {
		t.Errorf("dkim of an unreadable file: %+v", got)
	}
	res := c.Check(context.Background(), Input{IP: net.ParseIP("192.0.2.1"), Helo: "h.example", MailFrom: "a@example.org", Path: dir})
	if len(res.DKIM) != 1 || res.DKIM[0].Result != "temperror" || res.DMARC.Result != "temperror" || strings.Contains(res.DKIM[0].Reason, dir) {
		t.Errorf("Check of an unreadable file: %+v %+v", res.DKIM, res.DMARC)
	}
	if h := res.Header("mx.example.net"); strings.Contains(h, dir) {
		t.Errorf("header names the path: %s", h)
	}
}

// A header over MaxHeaderBytes is the message's own shape: its
// signatures are permerror, not held in memory; DMARC still reads its
// From:.
func TestHeaderTooLargeIsPermerror(t *testing.T) {
	p := filepath.Join(t.TempDir(), "msg")
	big := "DKIM-Signature: v=1; a=ed25519-sha256; d=example.org; s=s; h=from; bh=AAAA; b=AAAAAAAAAA\r\n" +
		"X-Big: " + strings.Repeat("a", MaxHeaderBytes) + "\r\nFrom: a@example.org\r\n\r\nbody\r\n"
	if err := os.WriteFile(p, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Checker{Resolver: nxResolver{}}
	res := c.Check(context.Background(), Input{IP: net.ParseIP("192.0.2.1"), Helo: "h.example", MailFrom: "a@example.org", Path: p})
	if len(res.DKIM) != 1 || res.DKIM[0].Result != "permerror" || !strings.Contains(res.DKIM[0].Reason, "larger than") ||
		res.DMARC.Result != "none" || res.DMARC.From != "example.org" {
		t.Errorf("%+v %+v", res.DKIM, res.DMARC)
	}
}
