package daemon

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/dnstest"
	"github.com/ebbmail/ebb/internal/msgauth"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// The auth checker judges port 25 only, skips auth.trusted_networks,
// refuses a DMARC p=reject failure with a 550 5.7.1 that names the domain
// and no local path, and marks p=quarantine for Junk.
func TestAuthCheckerScope(t *testing.T) {
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	dns.MustAdd(`_dmarc.bank.example. TXT "v=DMARC1; p=reject"`, `_dmarc.shop.example. TXT "v=DMARC1; p=quarantine"`)
	a := &authChecker{
		c:       &msgauth.Checker{Resolver: dnsresolve.NewAt(dns.Addr(), time.Second)},
		id:      "mx.ours.example",
		trusted: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		reject:  true, quarantine: "Junk",
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	msg := func(from string) string {
		p := filepath.Join(t.TempDir(), "m")
		os.WriteFile(p, []byte("From: "+from+"\r\nSubject: x\r\n\r\nbody\r\n"), 0o600)
		return p
	}
	in := func(kind smtpd.Kind, ip, from string) *checkInput {
		return &checkInput{Kind: kind, Msg: &queue.Message{ID: "q1", File: msg(from),
			Envelope: queue.Envelope{From: "x@elsewhere.example", ClientAddr: ip, ClientHelo: "h.example"}}}
	}
	ctx := context.Background()
	for _, c := range []*checkInput{in(smtpd.Submission, "127.0.0.1", "ceo@bank.example"), in(smtpd.Inbound, "192.0.2.7", "ceo@bank.example")} {
		if h, err := a.check(ctx, c); h != "" || err != nil {
			t.Errorf("%s from %s: checked (%q, %v), want skipped", c.Kind, c.Msg.Envelope.ClientAddr, h, err)
		}
	}
	_, err = a.check(ctx, in(smtpd.Inbound, "198.51.100.1", "ceo@bank.example"))
	de, ok := diag.As(err)
	if !ok || de.Class != diag.Permanent {
		t.Fatalf("spoof: %v", err)
	}
	code, enh, text := de.SMTPReply()
	if code != 550 || enh != [3]int{5, 7, 1} || !strings.Contains(text, "DMARC policy of bank.example rejects") || strings.Contains(text, "/") {
		t.Errorf("reply %d %v %q", code, enh, text)
	}
	q := in(smtpd.Inbound, "198.51.100.1", "x@shop.example")
	h, err := a.check(ctx, q)
	if err != nil || q.Msg.Envelope.Folder != "Junk" || !strings.HasPrefix(h, "Authentication-Results: mx.ours.example;") {
		t.Errorf("quarantine: folder %q, %v, %q", q.Msg.Envelope.Folder, err, h)
	}
}
