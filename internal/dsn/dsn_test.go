package dsn

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dsntest"
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
		r := &Recipient{Address: "bob@example.net", Error: c.err}
		st := statusOf(r, Failure)
		if st.remoteMTA != c.remoteMTA || st.status != c.status || !strings.HasPrefix(st.diagnostic, c.diagnos) {
			t.Errorf("%s: Remote-MTA %q Status %q Diagnostic-Code %q; want %q %q %q", c.name, st.remoteMTA, st.status, st.diagnostic, c.remoteMTA, c.status, c.diagnos)
		}
		h := humanLine(r, Failure)
		if !strings.Contains(h, c.human) || c.notHuman != "" && strings.Contains(h, c.notHuman) {
			t.Errorf("%s: human line %q, want %q without %q", c.name, h, c.human, c.notHuman)
		}
	}
}

// The TLS policy the next hop was under goes into X-Ebb-TLS-Policy: the
// session's on success (with its TLS), the failing session's otherwise,
// none when no MTA took part.
func TestDSNTLSPolicy(t *testing.T) {
	ok := &Recipient{Address: "a@example.net", Relay: &Relayed{Host: "mx.example.net", IP: "192.0.2.1",
		TLS: "TLS 1.3 TLS_AES_128_GCM_SHA256", Policy: "DANE: DANE-EE(3) SPKI(1) SHA2-256(1) matched"}}
	if p := tlsPolicyOf(ok, Success); p != "DANE: DANE-EE(3) SPKI(1) SHA2-256(1) matched; TLS 1.3 TLS_AES_128_GCM_SHA256" {
		t.Errorf("success: %q", p)
	}
	if h := humanLine(ok, Success); !strings.Contains(h, "sent over TLS 1.3 TLS_AES_128_GCM_SHA256; TLS policy: DANE: DANE-EE(3)") {
		t.Errorf("human: %q", h)
	}
	e := diag.New("starttls", "deliver to", "b@example.net", errors.New("x"))
	e.Remote = &diag.Remote{Host: "mx.example.net", IP: "192.0.2.1", Step: "starttls", Policy: "DANE (TLSA at _25._tcp.mx.example.net, DNSSEC-validated)"}
	failed := &Recipient{Address: "b@example.net", Error: e}
	if p := tlsPolicyOf(failed, Delay); p != e.Remote.Policy {
		t.Errorf("delay: %q", p)
	}
	e2 := *e
	e2.Remote = &diag.Remote{Host: "example.net", Step: "dns", Policy: "DANE (the TLSA lookup did not come back)"}
	if p := tlsPolicyOf(&Recipient{Address: "c@example.net", Error: &e2}, Failure); p != "" {
		t.Errorf("no MTA took part, yet %q", p)
	}
	rep := &Report{Host: "mx.ours.test", Kind: Success, QueueID: "Q1", From: "s@ours.test", Now: time.Now(), Lifetime: time.Hour,
		Recipients: []Recipient{*ok}}
	b, _ := io.ReadAll(rep.Reader())
	if !strings.Contains(string(b), "\r\nX-Ebb-TLS-Policy: DANE: DANE-EE(3) SPKI(1) SHA2-256(1) matched; TLS 1.3 TLS_AES_128_GCM_SHA256\r\n") {
		t.Errorf("DSN:\n%s", b)
	}
}

// Each kind of report, as a real MIME parser reads it: its subject, the
// per-message and per-recipient fields RFC 3464 asks for, and the
// original returned as headers or whole (RET=FULL), with CRLF line ends.
func TestReportReadsAsADSN(t *testing.T) {
	arrived := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	last := arrived.Add(time.Hour)
	fail := diag.New("deliver", "deliver to", "bob@example.net", errors.New("x"))
	fail.Class, fail.SMTPCode, fail.Enhanced, fail.Public = diag.Permanent, 550, [3]int{5, 1, 1}, "no such user"
	fail.Remote = &diag.Remote{Host: "mx.example.net", IP: "192.0.2.7", Step: "rcpt", Code: 550, Enhanced: "5.1.1", Text: "no such user"}
	for _, c := range []struct {
		name    string
		r       Report
		subject string
		parts   string
		fields  map[string]string // of the one recipient
		human   string
		orig    string
	}{
		{name: "failure with headers",
			r: Report{Kind: Failure, Recipients: []Recipient{{Address: "bob@example.net", ORCPT: "Bob@Example.NET", Error: fail, Last: last}},
				Headers: "Subject: hi\nFrom: s@ours.test\n"},
			subject: "Undelivered Mail Returned to Sender", parts: "text/plain,message/delivery-status,text/rfc822-headers",
			fields: map[string]string{"action": "failed", "status": "5.1.1", "final-recipient": "rfc822; bob@example.net",
				"original-recipient": "rfc822; Bob@Example.NET", "remote-mta": "dns; mx.example.net",
				"diagnostic-code": "smtp; 550 5.1.1 no such user", "last-attempt-date": last.Format(time.RFC1123Z)},
			human: "<bob@example.net>: host mx.example.net[192.0.2.7] said: 550 5.1.1 no such user (in reply to RCPT)",
			orig:  "Subject: hi\r\nFrom: s@ours.test\r\n"},
		{name: "failure returning the whole message",
			r: Report{Kind: Failure, Recipients: []Recipient{{Address: "bob@example.net", Error: fail}},
				Message: strings.NewReader("Subject: hi\r\n\r\nthe body\r\n")},
			subject: "Undelivered Mail Returned to Sender", parts: "text/plain,message/delivery-status,message/rfc822",
			fields: map[string]string{"action": "failed", "status": "5.1.1"},
			orig:   "Subject: hi\r\n\r\nthe body\r\n"},
		{name: "delay",
			r:       Report{Kind: Delay, Lifetime: 5 * 24 * time.Hour, Recipients: []Recipient{{Address: "bob@example.net", Error: fail, Last: last, Next: last.Add(time.Hour)}}},
			subject: "Delayed Mail (still being retried)", parts: "text/plain,message/delivery-status,text/rfc822-headers",
			fields: map[string]string{"action": "delayed", "will-retry-until": arrived.Add(5 * 24 * time.Hour).Format(time.RFC1123Z)},
			human:  "retried until 5d"},
		{name: "success, relayed to a host without DSN",
			r:       Report{Kind: Success, Recipients: []Recipient{{Address: "bøb@example.net", Relay: &Relayed{Host: "mx.example.net", IP: "192.0.2.7", Reply: "250 2.0.0 queued as X"}}}},
			subject: "Successful Mail Delivery Report", parts: "text/plain,message/delivery-status,text/rfc822-headers",
			fields: map[string]string{"action": "relayed", "status": "2.0.0", "final-recipient": "utf-8; bøb@example.net",
				"remote-mta": "dns; mx.example.net", "diagnostic-code": "smtp; 250 2.0.0 queued as X"},
			human: "relayed to host mx.example.net[192.0.2.7], which does not report delivery itself"},
		{name: "success, an alias expanded",
			r:       Report{Kind: Success, Recipients: []Recipient{{Address: "all@ours.test", Relay: &Relayed{Expanded: true}}}},
			subject: "Successful Mail Delivery Report", parts: "text/plain,message/delivery-status,text/rfc822-headers",
			fields: map[string]string{"action": "expanded"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.r
			r.Host, r.QueueID, r.From, r.EnvID, r.Arrived, r.Now = "mx.ours.test", "Q1", "s@ours.test", "env-1", arrived, last
			raw, err := io.ReadAll(r.Reader())
			if err != nil {
				t.Fatal(err)
			}
			p, err := dsntest.Parse(string(raw))
			if err != nil {
				t.Fatalf("%v\n%s", err, raw)
			}
			if got := p.Header.Get("Subject"); got != c.subject {
				t.Errorf("Subject %q, want %q", got, c.subject)
			}
			if got := p.Header.Get("To"); got != "<s@ours.test>" {
				t.Errorf("To %q", got)
			}
			if got := p.Header.Get("Auto-Submitted"); got != "auto-replied" {
				t.Errorf("Auto-Submitted %q", got)
			}
			if got := strings.Join(p.Parts, ","); got != c.parts {
				t.Errorf("parts %s, want %s", got, c.parts)
			}
			for k, v := range map[string]string{"reporting-mta": "dns; mx.ours.test", "x-ebb-queue-id": "Q1",
				"original-envelope-id": "env-1", "arrival-date": arrived.Format(time.RFC1123Z)} {
				if p.PerMessage[k] != v {
					t.Errorf("per-message %s %q, want %q", k, p.PerMessage[k], v)
				}
			}
			if len(p.Recipients) != 1 {
				t.Fatalf("%d recipient blocks", len(p.Recipients))
			}
			for k, v := range c.fields {
				if got := p.Recipients[0][k]; got != v {
					t.Errorf("%s %q, want %q", k, got, v)
				}
			}
			if !strings.Contains(p.Human, c.human) {
				t.Errorf("human part %q, want %q in it", p.Human, c.human)
			}
			if p.Returned != c.orig {
				t.Errorf("returned %q, want %q", p.Returned, c.orig)
			}
		})
	}
}
