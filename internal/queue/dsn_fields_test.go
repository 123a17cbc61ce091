package queue

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

// Issue 24: a DSN says only what happened. Remote-MTA names an MTA only
// when one took part (RFC 3464 §2.3.5: not for a null MX, an NXDOMAIN, an
// MTA-STS policy no MX meets, a suspended destination not tried), and
// Diagnostic-Code carries an enhanced code only when the remote sent one
// (§2.3.6), while Status (which must have one) takes the reply's class.
func TestDSNFieldsSayOnlyWhatHappened(t *testing.T) {
	ours := func(code int, enh [3]int, remote *diag.Remote) *diag.Error {
		e := diag.New("dns", "deliver to", "bob@example.net", errors.New("x"))
		e.Class, e.SMTPCode, e.Enhanced, e.Public, e.Remote = diag.Permanent, code, enh, "the reason", remote
		return e
	}
	for _, c := range []struct {
		name            string
		err             *diag.Error
		remoteMTA       string
		status, diagnos string
		human           string
		notHuman        string
	}{
		{"null MX", ours(556, [3]int{5, 1, 10}, &diag.Remote{Host: "example.net", Step: "dns"}),
			"", "5.1.10", "556 5.1.10 the reason", "556 5.1.10 the reason", "host example.net"},
		{"NXDOMAIN", ours(550, [3]int{5, 1, 2}, &diag.Remote{Host: "example.net", Step: "dns"}),
			"", "5.1.2", "550 5.1.2 the reason", "550 5.1.2 the reason", "host example.net"},
		{"MTA-STS: no MX host in the policy", ours(451, [3]int{4, 7, 5}, &diag.Remote{Host: "example.net", Step: "dns"}),
			"", "4.7.5", "451 4.7.5 the reason", "451 4.7.5 the reason", "host"},
		{"a suspended destination, not tried", ours(451, [3]int{4, 0, 0}, &diag.Remote{Host: "mx.example.net", Step: "connect"}),
			"", "4.0.0", "451 4.0.0 the reason", "451 4.0.0 the reason", "host"},
		{"a connection refused by the MX", ours(451, [3]int{4, 4, 1}, &diag.Remote{Host: "mx.example.net", IP: "192.0.2.7", Step: "connect"}),
			"mx.example.net", "4.4.1", "451 4.4.1 the reason", "host mx.example.net[192.0.2.7] (in reply to CONNECT)", ""},
		{"a reply without an enhanced code", ours(550, [3]int{5, 0, 0}, &diag.Remote{Host: "mx.example.net", IP: "192.0.2.7", Step: "rcpt", Code: 550, Text: "no such user here"}),
			"mx.example.net", "5.0.0", "550 no such user here", "said: 550 no such user here", "5.0.0"},
		{"a reply with one", ours(550, [3]int{5, 0, 0}, &diag.Remote{Host: "mx.example.net", IP: "192.0.2.7", Step: "rcpt", Code: 550, Enhanced: "5.1.1", Text: "no such user"}),
			"mx.example.net", "5.1.1", "550 5.1.1 no such user", "said: 550 5.1.1 no such user", ""},
	} {
		r := &Recipient{Address: "bob@example.net", State: Failed, Error: c.err}
		st := statusOf(r, dsnFailure)
		if st.remoteMTA != c.remoteMTA || st.status != c.status || !strings.HasPrefix(st.diagnostic, c.diagnos) {
			t.Errorf("%s: Remote-MTA %q Status %q Diagnostic-Code %q; want %q %q %q", c.name, st.remoteMTA, st.status, st.diagnostic, c.remoteMTA, c.status, c.diagnos)
		}
		h := humanLine(r, dsnFailure)
		if !strings.Contains(h, c.human) || c.notHuman != "" && strings.Contains(h, c.notHuman) {
			t.Errorf("%s: human line %q, want %q without %q", c.name, h, c.human, c.notHuman)
		}
	}
}

// The TLS policy the next hop was under goes into X-Ebb-TLS-Policy: the
// session's on success (with its TLS), the failing session's otherwise,
// none when no MTA took part.
func TestDSNTLSPolicy(t *testing.T) {
	ok := &Recipient{Address: "a@example.net", State: Delivered, Relay: &Handoff{Host: "mx.example.net", IP: "192.0.2.1",
		TLS: "TLS 1.3 TLS_AES_128_GCM_SHA256", Policy: "DANE: DANE-EE(3) SPKI(1) SHA2-256(1) matched"}}
	if p := tlsPolicyOf(ok, dsnSuccess); p != "DANE: DANE-EE(3) SPKI(1) SHA2-256(1) matched; TLS 1.3 TLS_AES_128_GCM_SHA256" {
		t.Errorf("success: %q", p)
	}
	if h := humanLine(ok, dsnSuccess); !strings.Contains(h, "sent over TLS 1.3 TLS_AES_128_GCM_SHA256; TLS policy: DANE: DANE-EE(3)") {
		t.Errorf("human: %q", h)
	}
	e := diag.New("starttls", "deliver to", "b@example.net", errors.New("x"))
	e.Remote = &diag.Remote{Host: "mx.example.net", IP: "192.0.2.1", Step: "starttls", Policy: "DANE (TLSA at _25._tcp.mx.example.net, DNSSEC-validated)"}
	failed := &Recipient{Address: "b@example.net", State: Deferred, Error: e}
	if p := tlsPolicyOf(failed, dsnDelay); p != e.Remote.Policy {
		t.Errorf("delay: %q", p)
	}
	e2 := *e
	e2.Remote = &diag.Remote{Host: "example.net", Step: "dns", Policy: "DANE (the TLSA lookup did not come back)"}
	if p := tlsPolicyOf(&Recipient{Address: "c@example.net", Error: &e2}, dsnFailure); p != "" {
		t.Errorf("no MTA took part, yet %q", p)
	}
	m := &Message{ID: "Q1", Envelope: Envelope{From: "s@ours.test"}}
	rd, done, err := dsnReader("mx.ours.test", m, []*Recipient{ok}, dsnSuccess, time.Now(), time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	b, _ := io.ReadAll(rd)
	if !strings.Contains(string(b), "\r\nX-Ebb-TLS-Policy: DANE: DANE-EE(3) SPKI(1) SHA2-256(1) matched; TLS 1.3 TLS_AES_128_GCM_SHA256\r\n") {
		t.Errorf("DSN:\n%s", b)
	}
}
