package daemon

import (
	"context"
	"errors"
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
	"github.com/ebbmail/ebb/internal/journal"
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

// A message from outside whose envelope sender is a hosted address must
// pass SPF (fail, softfail and neutral are refused 550 5.7.23 with a ref):
// else a copy sent on from here would pass SPF as ours at the next hop.
// none and temperror pass, as do other domains' senders and trusted
// networks.
func TestHostedSenderMustPassSPF(t *testing.T) {
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	dns.MustAdd(`hard.example. TXT "v=spf1 ip4:192.0.2.1 -all"`, `soft.example. TXT "v=spf1 ip4:192.0.2.1 ~all"`,
		`neutral.example. TXT "v=spf1 ip4:192.0.2.1 ?all"`, `other.example. TXT "v=spf1 ip4:192.0.2.1 -all"`)
	hosted := map[string]bool{"hard.example": true, "soft.example": true, "neutral.example": true, "nospf.example": true}
	a := &authChecker{
		c:       &msgauth.Checker{Resolver: dnsresolve.NewAt(dns.Addr(), time.Second)},
		id:      "mx.ours.example",
		trusted: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		hosted: func(_ context.Context, d string) (bool, error) {
			return hosted[d], nil
		},
		trustedSet: &diag.Setting{Key: "auth.trusted_networks"},
	}
	p := filepath.Join(t.TempDir(), "m")
	os.WriteFile(p, []byte("From: ceo@hard.example\r\nSubject: x\r\n\r\nbody\r\n"), 0o600)
	for _, c := range []struct {
		ip, from string
		refused  bool
	}{
		{"203.0.113.5", "bob@hard.example", true},
		{"203.0.113.5", "bob@soft.example", true},
		{"203.0.113.5", "bob@neutral.example", true},
		{"192.0.2.1", "bob@hard.example", false},    // listed: pass
		{"203.0.113.5", "bob@nospf.example", false}, // none
		{"203.0.113.5", "x@other.example", false},   // not hosted: DMARC's business
		{"198.51.100.9", "bob@hard.example", false}, // auth.trusted_networks
		{"203.0.113.5", "", false},
	} {
		in := &checkInput{Kind: smtpd.Inbound, Msg: &queue.Message{ID: "q1", File: p,
			Envelope: queue.Envelope{From: c.from, ClientAddr: c.ip, ClientHelo: "h.example"}}}
		_, err := a.check(context.Background(), in)
		if !c.refused {
			if err != nil {
				t.Errorf("%s from %s: refused: %v", c.from, c.ip, err)
			}
			continue
		}
		de, ok := diag.As(err)
		if !ok || de.Class != diag.Permanent || de.Ref == "" {
			t.Fatalf("%s from %s: %v, want a permanent refusal with a ref", c.from, c.ip, err)
		}
		code, enh, text := de.SMTPReply()
		if code != 550 || enh != [3]int{5, 7, 23} || !strings.Contains(text, "<"+c.from+"> is an address of a domain hosted here") {
			t.Errorf("%s from %s: reply %d %v %q", c.from, c.ip, code, enh, text)
		}
	}
}

// A directory that does not answer lets a hosted-looking sender that
// fails SPF through (mail is not refused for our own trouble), and says
// so: a note on the message (its journal record, ebb explain), a count by
// reason (ebb_auth_hosted_sender_unchecked_total) and the log. A sender
// that passes SPF asks nothing of the directory and is not noted.
func TestHostedSenderDirectoryDownIsSaid(t *testing.T) {
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	dns.MustAdd(`hard.example. TXT "v=spf1 ip4:192.0.2.1 -all"`)
	var logBuf strings.Builder
	counted := map[string]int{}
	asked := 0
	a := &authChecker{
		c:   &msgauth.Checker{Resolver: dnsresolve.NewAt(dns.Addr(), time.Second)},
		id:  "mx.ours.example",
		log: slog.New(slog.NewTextHandler(&logBuf, nil)),
		hosted: func(_ context.Context, d string) (bool, error) {
			asked++
			return false, errors.New("directory: connection refused")
		},
		unchecked: func(reason string) { counted[reason]++ },
	}
	p := filepath.Join(t.TempDir(), "m")
	os.WriteFile(p, []byte("From: ceo@hard.example\r\nSubject: x\r\n\r\nbody\r\n"), 0o600)
	in := func(ip string) *checkInput {
		return &checkInput{Kind: smtpd.Inbound, Msg: &queue.Message{ID: "q1", File: p,
			Envelope: queue.Envelope{From: "bob@hard.example", ClientAddr: ip, ClientHelo: "h.example"}}}
	}
	ok := in("192.0.2.1") // SPF pass: no question for the directory
	if _, err := a.check(context.Background(), ok); err != nil || len(ok.Notes) != 0 || asked != 0 {
		t.Fatalf("SPF pass: err %v, notes %v, directory asked %d times", err, ok.Notes, asked)
	}
	c := in("203.0.113.5")
	if _, err := a.check(context.Background(), c); err != nil {
		t.Fatalf("directory down: refused (%v), want let through", err)
	}
	if len(c.Notes) != 1 || c.Notes[0].Checker != "auth" {
		t.Fatalf("notes %+v, want one by auth", c.Notes)
	}
	for _, want := range []string{"hosted-sender check not made", "hard.example", "<bob@hard.example>", "spf=fail", "203.0.113.5", "connection refused"} {
		if !strings.Contains(c.Notes[0].Detail, want) {
			t.Errorf("note %q lacks %q", c.Notes[0].Detail, want)
		}
	}
	if counted["directory"] != 1 || len(counted) != 1 {
		t.Errorf("counted %v, want directory: 1", counted)
	}
	if !strings.Contains(logBuf.String(), "SPF fail let through") || !strings.Contains(logBuf.String(), "queue_id=q1") {
		t.Errorf("log %q", logBuf.String())
	}
}

// A checker's note is kept with the verdicts for the message's received
// record, and explain tells it by its checker.
func TestCheckNotesAreJournalRecords(t *testing.T) {
	jr := &journalRecorder{pending: map[string][]journal.Record{}, told: map[string]time.Time{}}
	m := &queue.Message{ID: "q1"}
	jr.checked(m, "inbound", "Authentication-Results: mx.ours.example; spf=fail\r\n",
		[]checkNote{{"auth", "hosted-sender check not made: …"}}, nil)
	recs := jr.pending["q1"]
	if len(recs) != 3 {
		t.Fatalf("records %+v, want listener, check, note", recs)
	}
	if got := journal.Sentence(recs[2], time.UTC); !strings.Contains(got, "checked by auth: hosted-sender check not made: …") {
		t.Errorf("note told as %q", got)
	}
}

// noting is a checker that passes, noting detail.
type noting struct{ n, detail string }

func (c noting) name() string { return c.n }
func (c noting) check(_ context.Context, in *checkInput) (string, error) {
	if c.detail != "" {
		in.note(c.n, c.detail)
	}
	return "", nil
}

// ebb route is told each checker's own notes, with its verdict.
func TestWalkChecksTellsEachCheckersNotes(t *testing.T) {
	in := &checkInput{Msg: &queue.Message{ID: "route"}}
	got := map[string][]string{}
	_, _, err := walkChecks(context.Background(), []checker{noting{"auth", "let through"}, noting{"scan", ""}}, in,
		func(name, _ string, notes []string) { got[name] = notes })
	if err != nil || len(got["auth"]) != 1 || got["auth"][0] != "let through" || len(got["scan"]) != 0 || len(in.Notes) != 1 {
		t.Errorf("notes told %v (%v), kept %v", got, err, in.Notes)
	}
}
