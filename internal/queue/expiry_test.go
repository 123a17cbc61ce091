package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
)

// expiringConfig gives up on a message after 300 ms, with no delay notice.
func expiringConfig(t *testing.T) *config.Config {
	cfg := testConfig(t)
	cfg.Queue.Lifetime = config.D(300 * time.Millisecond)
	cfg.Queue.DelayNotice = config.D(0)
	return cfg
}

// deferOnly is an outcome that defers rcpt (our own trouble) and delivers
// everyone else.
func deferOnly(rcpt string) func(string) error {
	return func(r string) error {
		if r == rcpt {
			return tempError("chmod it")
		}
		return nil
	}
}

func TestExpiryBouncesWithADSNThatAParserReads(t *testing.T) {
	cfg := expiringConfig(t)
	q := openQueue(t, cfg)
	rec := newRecorder()
	rec.setOutcome(deferOnly("bob@example.test"))
	run(t, q, Transports{Local: rec})
	id := receive(t, q, "alice@example.test", "Subject: will expire\r\nMessage-ID: <m1@example.test>\r\n\r\nbody\r\n", "bob@example.test")

	dsn := rec.wait(t)
	if dsn.Rcpt != "alice@example.test" || dsn.From != "" {
		t.Fatalf("bounce to %q from %q", dsn.Rcpt, dsn.From)
	}
	p := parseDSN(t, dsn.Content)
	if len(p.recipients) != 1 {
		t.Fatalf("recipients %+v", p.recipients)
	}
	r := p.recipients[0]
	if r["Final-Recipient"] != "rfc822; bob@example.test" || r["Action"] != "failed" || r["Status"] != "4.4.7" {
		t.Fatalf("recipient fields %+v", r)
	}
	if !strings.Contains(r["Diagnostic-Code"], "Delivery time expired") || !strings.Contains(r["Diagnostic-Code"], "(ref ") {
		t.Fatalf("Diagnostic-Code %q", r["Diagnostic-Code"])
	}
	if p.perMessage["X-Ebb-Queue-Id"] != id && p.perMessage["X-Ebb-Queue-ID"] != id {
		t.Fatalf("per-message fields %+v", p.perMessage)
	}
	if !strings.Contains(p.headers, "Message-ID: <m1@example.test>") || !strings.Contains(p.headers, "Received: from test") {
		t.Fatalf("returned headers %q", p.headers)
	}
	// The DSN leaves the host: no local path in it.
	if strings.Contains(dsn.Content, "/var/mail") || strings.Contains(dsn.Content, cfg.Queue.Spool) {
		t.Fatalf("DSN leaks a local path:\n%s", dsn.Content)
	}
	if p.subject != "Undelivered Mail Returned to Sender" {
		t.Fatalf("subject %q", p.subject)
	}
	eventually(t, "spool empty", func() bool { return len(spoolFiles(t, q)) == 0 })
}

func TestOneDelayNoticeWhileRetrying(t *testing.T) {
	cfg := testConfig(t)
	cfg.Queue.DelayNotice = config.D(150 * time.Millisecond)
	cfg.Queue.RetryMin = config.D(30 * time.Millisecond)
	cfg.Queue.RetryMax = config.D(30 * time.Millisecond)
	q := openQueue(t, cfg)
	rec := newRecorder()
	rec.setOutcome(deferOnly("bob@example.test"))
	run(t, q, Transports{Local: rec})
	id := receive(t, q, "alice@example.test", "Subject: slow\r\n\r\nbody\r\n", "bob@example.test")
	dsn := rec.wait(t)
	p := parseDSN(t, dsn.Content)
	if p.recipients[0]["Action"] != "delayed" || !strings.HasPrefix(p.recipients[0]["Status"], "4.") {
		t.Fatalf("delay notice fields %+v", p.recipients[0])
	}
	if p.recipients[0]["Will-Retry-Until"] == "" {
		t.Fatal("no Will-Retry-Until")
	}
	// Retries go on; no second notice.
	n := rec.count("bob@example.test")
	eventually(t, "more retries", func() bool { return rec.count("bob@example.test") >= n+5 })
	if c := rec.count("alice@example.test"); c != 1 {
		t.Fatalf("%d delay notices, want 1", c)
	}
	if !stateOf(t, q, id).DelayNotified {
		t.Fatal("delay notice not recorded")
	}
}

func TestRemoteRecipientsWaitWithANamedReason(t *testing.T) {
	q := openQueue(t, slowRetryConfig(t))
	rec := newRecorder()
	route := func(_ context.Context, rcpt string) (Route, error) {
		if strings.HasSuffix(rcpt, "@example.test") {
			return Local, nil
		}
		return Remote, nil
	}
	run(t, q, Transports{Local: rec, Route: route})
	id := receive(t, q, "a@example.test", "Subject: x\r\n\r\nx\r\n", "far@example.org", "near@example.test")
	rec.wait(t)
	eventually(t, "remote deferred", func() bool {
		m := stateOf(t, q, id)
		r := m.recipient("far@example.org")
		return r.State == Deferred && r.Error != nil
	})
	r := stateOf(t, q, id).recipient("far@example.org")
	if !strings.Contains(r.Error.Sentence(), "no outbound transport is configured") {
		t.Fatalf("reason %q", r.Error.Sentence())
	}
	// The counts follow the stored state at the end of the round.
	var st Stats
	eventually(t, "stats updated", func() bool { st = q.Stats(); return st.Depth[Deferred] == 1 })
	if st.Depth[Deferred] != 1 || st.Depth[Delivered] != 1 || st.Deliveries[Delivered] != 1 || st.Deferrals["no_transport"] != 1 {
		t.Fatalf("stats %+v", st)
	}
}
