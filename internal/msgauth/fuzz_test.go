package msgauth

import (
	"context"
	"crypto/ed25519"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/arfield"

	"github.com/emersion/go-msgauth/authres"
)

// nxResolver answers every name with NXDOMAIN, at once: the fuzzer
// exercises the parsing, not the network.
type nxResolver struct{}

func nx(name string) error                                                 { return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true} }
func (nxResolver) LookupTXT(_ context.Context, n string) ([]string, error) { return nil, nx(n) }
func (nxResolver) LookupMX(_ context.Context, n string) ([]*net.MX, error) { return nil, nx(n) }
func (nxResolver) LookupNetIP(_ context.Context, _, n string) ([]netip.Addr, error) {
	return nil, nx(n)
}
func (nxResolver) LookupAddr(_ context.Context, n string) ([]string, error) { return nil, nx(n) }

// FuzzCheckHeader: any message (DKIM-Signature, From, A-R fields of any
// shape) gives one well-formed Authentication-Results field that parses
// back with our authserv-id, and never panics.
func FuzzCheckHeader(f *testing.F) {
	f.Add([]byte(plainMsg), "alice@example.org", "mx.example.org")
	f.Add([]byte("DKIM-Signature: v=1; a=rsa-sha256; d=x; s=y; h=from; bh=; b=\r\nFrom: a@x\r\n\r\n"), "", "h")
	f.Add([]byte("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.org; s=s;\r\n\th=From:To; bh=AAAA; b=\"q\r\nFrom: \"=?utf-8?q?x?=\" <a@b.c>, d@e.f\r\n\r\n"), "a@b", "\x00")
	f.Fuzz(func(t *testing.T, msg []byte, mailFrom, helo string) {
		p := filepath.Join(t.TempDir(), "m")
		if err := os.WriteFile(p, msg, 0o600); err != nil {
			t.Fatal(err)
		}
		c := &Checker{Resolver: nxResolver{}}
		res := c.Check(context.Background(), Input{IP: net.ParseIP("192.0.2.1"), Helo: helo, MailFrom: mailFrom, Path: p})
		h := res.Header("mx.example.net")
		if !strings.HasPrefix(h, "Authentication-Results: mx.example.net;\r\n") || !strings.HasSuffix(h, "\r\n") {
			t.Fatalf("bad field %q", h)
		}
		lines := strings.Split(strings.TrimSuffix(h, "\r\n"), "\r\n")
		for i, l := range lines {
			if len(l) > 998 || strings.ContainsAny(l, "\r\n\x00") {
				t.Fatalf("bad line %d %q", i, l)
			}
			if i > 0 && l[0] != '\t' {
				t.Fatalf("line %d not folded: %q", i, l)
			}
		}
		value := strings.TrimPrefix(strings.ReplaceAll(strings.TrimSuffix(h, "\r\n"), "\r\n", ""), "Authentication-Results:")
		if id := arfield.AuthservID(value); id != "mx.example.net" {
			t.Fatalf("authserv-id %q from %q", id, h)
		}
		if id, _, err := authres.Parse(value); id != "mx.example.net" {
			t.Fatalf("authres.Parse: %q %v", id, err)
		}
	})
}

// FuzzKeyRecord: any published text is compared without panic, and the
// key's own record, however the DNS cut or spaced it, always matches.
func FuzzKeyRecord(f *testing.F) {
	f.Add("v=DKIM1; k=ed25519; p=", 3)
	f.Add("k=rsa;p=MIIB;;=;v=DKIM2", 0)
	f.Add("v=DKIM1;\tk=ed25519;\r\n p=abc ", 7)
	_, priv, _ := ed25519.GenerateKey(nil)
	k := &Key{Domain: "example.org", Selector: "s", Algorithm: "ed25519", Signer: priv}
	f.Fuzz(func(t *testing.T, txt string, cut int) {
		_ = k.MatchTXT([]string{txt})
		_ = parseTags(txt)
		own := k.TXT()
		if cut < 0 {
			cut = -cut
		}
		// Folding white space inside the base64 of p= is allowed (RFC 6376 §3.6.1).
		i := strings.Index(own, "p=") + 2
		if j := i + cut%(len(own)-i); j > i {
			own = own[:j] + " " + own[j:]
		}
		if why := k.MatchTXT([]string{own}); why != "" {
			t.Fatalf("own record %q: %s", own, why)
		}
	})
}
