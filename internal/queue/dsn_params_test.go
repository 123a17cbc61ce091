package queue

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dsn"
)

// remoteRefusal is what the relay returns for a 5xx at RCPT: our diagnosis
// with the remote's words beside it.
func remoteRefusal(rcpt string) *diag.Error {
	e := diag.New("rcpt", "deliver to", rcpt, errors.New("the remote server refused the recipient"))
	e.Class = diag.Permanent
	e.SMTPCode, e.Enhanced, e.Public = 550, [3]int{5, 0, 0}, "Refused by the remote server"
	e.Remote = &diag.Remote{Host: "mx.example.net", IP: "192.0.2.7", Step: "rcpt", Code: 550, Enhanced: "5.1.1",
		Text: "<" + rcpt + ">: Recipient address rejected:\nUser unknown"}
	return e
}

func receiveEnv(t *testing.T, q *Queue, env *Envelope, data string) string {
	t.Helper()
	env.Prefix = "Received: from test\r\n"
	id, err := q.Receive(context.Background(), env, strings.NewReader(data), ReceiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestFailureDSNQuotesTheRemoteAndTheDSNParameters(t *testing.T) {
	q := openQueue(t, testConfig(t))
	rec := newRecorder()
	rec.setOutcome(func(rcpt string) error {
		if rcpt == "bob@example.net" {
			return remoteRefusal(rcpt)
		}
		return nil
	})
	run(t, q, Transports{Local: rec})
	id := receiveEnv(t, q, &Envelope{From: "alice@example.test", Recipients: []string{"bob@example.net"},
		EnvID: "QQ314159", Ret: "FULL",
		RcptDSN: map[string]RecipientDSN{"bob@example.net": {Notify: []string{"FAILURE"}, ORCPTType: "rfc822", ORCPT: "Bob@Example.NET"}}},
		"Subject: full return\r\n\r\nthe body line\r\n")

	dsn := rec.wait(t)
	if dsn.Rcpt != "alice@example.test" || dsn.From != "" {
		t.Fatalf("DSN to %q from %q", dsn.Rcpt, dsn.From)
	}
	p := parseDSN(t, dsn.Content)
	if p.perMessage["Original-Envelope-Id"] != "QQ314159" {
		t.Errorf("per-message %+v", p.perMessage)
	}
	if len(p.recipients) != 1 {
		t.Fatalf("recipients %+v", p.recipients)
	}
	r := p.recipients[0]
	want := map[string]string{
		"Original-Recipient": "rfc822; Bob@Example.NET",
		"Final-Recipient":    "rfc822; bob@example.net",
		"Action":             "failed",
		"Status":             "5.1.1", // the remote's, not our 5.0.0
		"Remote-Mta":         "dns; mx.example.net",
		"Diagnostic-Code":    "smtp; 550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown",
	}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s = %q, want %q (all: %+v)", k, r[k], v, r)
		}
	}
	if !strings.Contains(p.human, "host mx.example.net[192.0.2.7] said: 550 5.1.1") || !strings.Contains(p.human, "(in reply to RCPT)") {
		t.Errorf("human part %q", p.human)
	}
	// RET=FULL: the whole message comes back, prefix included.
	if !strings.Contains(p.returned, "the body line") || !strings.Contains(p.returned, "Received: from test") {
		t.Errorf("returned message %q", p.returned)
	}
	if p.perMessage["X-Ebb-Queue-Id"] != id {
		t.Errorf("queue id: %+v", p.perMessage)
	}
}

func TestNotifyDecidesWhichDSNsAreSent(t *testing.T) {
	q := openQueue(t, testConfig(t))
	rec := newRecorder()
	var relay = map[string]*Handoff{
		"relayed@example.net":    {Host: "mx.example.net", IP: "192.0.2.7", Reply: "250 2.0.0 Ok: queued as 4XyZ"},
		"dsnhop@example.net":     {Host: "mx.example.net", IP: "192.0.2.7", DSN: true},
		"alias@example.test":     {Expanded: true},
		"delivered@example.test": nil,
	}
	tr := TransportFunc(func(ctx context.Context, m *Message, r *Recipient) error {
		if strings.HasPrefix(r.Address, "never") {
			return remoteRefusal(r.Address)
		}
		if err := rec.Deliver(ctx, m, r); err != nil {
			return err
		}
		r.Relay = relay[r.Address]
		return nil
	})
	run(t, q, Transports{Local: tr})
	notify := func(n ...string) RecipientDSN { return RecipientDSN{Notify: n} }
	receiveEnv(t, q, &Envelope{From: "alice@example.test",
		Recipients: []string{"never@example.net", "delivered@example.test", "relayed@example.net", "dsnhop@example.net", "quiet@example.test", "alias@example.test"},
		RcptDSN: map[string]RecipientDSN{
			"never@example.net":      notify("NEVER"),
			"delivered@example.test": notify("SUCCESS", "FAILURE"),
			"relayed@example.net":    notify("SUCCESS"),
			"dsnhop@example.net":     notify("SUCCESS"),
			"alias@example.test":     notify("SUCCESS"),
		}}, "Subject: notify\r\n\r\nx\r\n")

	var dsn delivery
	for i := 0; i < 6; i++ {
		d := rec.wait(t)
		if d.Rcpt == "alice@example.test" {
			dsn = d
			break
		}
	}
	if dsn.Content == "" {
		t.Fatal("no success DSN")
	}
	p := parseDSN(t, dsn.Content)
	if p.subject != "Successful Mail Delivery Report" {
		t.Errorf("subject %q", p.subject)
	}
	got := map[string]string{}
	for _, r := range p.recipients {
		got[r["Final-Recipient"]] = r["Action"] + " " + r["Status"] + " " + r["Remote-Mta"]
	}
	want := map[string]string{
		"rfc822; delivered@example.test": "delivered 2.0.0 ",
		"rfc822; relayed@example.net":    "relayed 2.0.0 dns; mx.example.net",
		"rfc822; alias@example.test":     "expanded 2.0.0 ",
	}
	if len(got) != len(want) {
		t.Fatalf("success DSN recipients %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	// Empty: every DSN was queued before its message left, and delivered
	// before it left in turn.
	eventually(t, "spool empty", func() bool { return len(spoolFiles(t, q)) == 0 })
	// NEVER: no failure DSN; the next hop with DSN reports itself.
	if n := rec.count("alice@example.test"); n != 1 {
		t.Fatalf("%d DSNs to the sender, want 1 (the success DSN)", n)
	}
}

func TestDelayNoticeOnlyForRecipientsThatAskForIt(t *testing.T) {
	cfg := testConfig(t)
	cfg.Queue.DelayNotice = config.D(100 * time.Millisecond)
	q := openQueue(t, cfg)
	rec := newRecorder()
	rec.setOutcome(func(rcpt string) error {
		if strings.HasSuffix(rcpt, "@example.net") {
			return tempError("later")
		}
		return nil
	})
	run(t, q, Transports{Local: rec})
	receiveEnv(t, q, &Envelope{From: "alice@example.test", Recipients: []string{"nodelay@example.net", "delay@example.net"},
		RcptDSN: map[string]RecipientDSN{"nodelay@example.net": {Notify: []string{"FAILURE"}}}}, "Subject: d\r\n\r\nx\r\n")
	dsn := rec.wait(t)
	p := parseDSN(t, dsn.Content)
	if len(p.recipients) != 1 || p.recipients[0]["Final-Recipient"] != "rfc822; delay@example.net" || p.recipients[0]["Action"] != "delayed" {
		t.Fatalf("delay notice recipients %+v", p.recipients)
	}

	// A message where nobody wants DELAY gets no notice at all.
	id := receiveEnv(t, q, &Envelope{From: "carol@example.test", Recipients: []string{"x@example.net"},
		RcptDSN: map[string]RecipientDSN{"x@example.net": {Notify: []string{"NEVER"}}}}, "Subject: d2\r\n\r\nx\r\n")
	// Two rounds stored after queue.delay_notice: the first round that
	// could have sent a notice has ended (the second began after it).
	var m *Message
	eventually(t, "two attempts past delay_notice", func() bool {
		m = stateOf(t, q, id)
		n := 0
		for _, a := range m.History {
			if a.Time.Sub(m.Arrived) >= cfg.Queue.DelayNotice.Duration {
				n++
			}
		}
		return n >= 2
	})
	if n := rec.count("carol@example.test"); n != 0 || m.DelayNotified {
		t.Fatalf("%d delay notices to a sender whose NOTIFY=NEVER (notified %v)", n, m.DelayNotified)
	}
}

func TestUndeliverableDSNIsDroppedNotBounced(t *testing.T) {
	q := openQueue(t, testConfig(t))
	rec := newRecorder()
	rec.setOutcome(func(rcpt string) error { return remoteRefusal(rcpt) })
	run(t, q, Transports{Local: rec})
	receiveEnv(t, q, &Envelope{From: "", Proto: "dsn", Recipients: []string{"gone@example.net"}}, "Subject: a bounce\r\n\r\nx\r\n")
	// Empty: every DSN was queued before its message left, and delivered
	// before it left in turn.
	eventually(t, "spool empty", func() bool { return len(spoolFiles(t, q)) == 0 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.calls) != 1 {
		t.Fatalf("%d attempts, want 1 (the DSN itself, then dropped): %+v", len(rec.calls), rec.calls)
	}
}

func TestExpiryDSNKeepsTheLastRemoteReply(t *testing.T) {
	q := openQueue(t, expiringConfig(t))
	rec := newRecorder()
	rec.setOutcome(func(rcpt string) error {
		if rcpt != "bob@example.net" {
			return nil
		}
		e := remoteRefusal(rcpt)
		e.Class, e.SMTPCode, e.Enhanced = diag.Temporary, 451, [3]int{4, 0, 0}
		e.Remote.Code, e.Remote.Enhanced, e.Remote.Text = 451, "4.7.1", "greylisted, try again later"
		return e
	})
	run(t, q, Transports{Local: rec})
	receive(t, q, "alice@example.test", "Subject: grey\r\n\r\nx\r\n", "bob@example.net")
	p := parseDSN(t, rec.wait(t).Content)
	r := p.recipients[0]
	if r["Status"] != "4.4.7" || r["Diagnostic-Code"] != "smtp; 451 4.7.1 greylisted, try again later" || r["Remote-Mta"] != "dns; mx.example.net" {
		t.Fatalf("expiry DSN fields %+v", r)
	}
	if !strings.Contains(p.human, "Delivery time expired") || !strings.Contains(p.human, "the last attempt: host mx.example.net[192.0.2.7] said: 451 4.7.1 greylisted") {
		t.Fatalf("human part %q", p.human)
	}
}

func TestParseDSNOptionsOfSendmail(t *testing.T) {
	rc := []string{"a@x.example", "b@x.example"}
	for _, tc := range []struct {
		notify, ret, envid string
		wantNotify         string // for every recipient; "" means no entry
		wantRet, wantEnvID string
	}{
		{"success,delay", "hdrs", "env-1", "SUCCESS,DELAY", "HDRS", "env-1"},
		{"Never", "FULL", "", "NEVER", "FULL", ""},
		{"never,success", "", "", "", "", ""},
		{"failure,bogus", "headers", "with space", "", "", ""},
		{"", "", "", "", "", ""},
	} {
		m, ret, envid := ParseDSNOptions(rc, tc.notify, tc.ret, tc.envid)
		for _, r := range rc {
			if got := strings.Join(m[r].Notify, ","); got != tc.wantNotify {
				t.Errorf("-N %q: %s notify %q, want %q", tc.notify, r, got, tc.wantNotify)
			}
		}
		if ret != tc.wantRet || envid != tc.wantEnvID {
			t.Errorf("-R %q -V %q: %q %q, want %q %q", tc.ret, tc.envid, ret, envid, tc.wantRet, tc.wantEnvID)
		}
	}
}

// A DSN whose returned header cannot be read (the spool file is gone)
// still goes, with what could be read, and the log says so.
func TestDSNWithAnUnreadableHeaderIsSaid(t *testing.T) {
	var logb strings.Builder
	q, err := Open(testConfig(t), slog.New(slog.NewTextHandler(&syncWriter{w: &logb}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	m := &Message{ID: "Q1", File: filepath.Join(t.TempDir(), "gone"), Envelope: Envelope{From: "s@example.org", Recipients: []string{"r@example.net"},
		Prefix: "Received: from test\r\n"}, Arrived: time.Now()}
	rc := &Recipient{Address: "r@example.net", State: Failed, Error: remoteRefusal("r@example.net")}
	_, incomplete, err := q.sendDSN(context.Background(), m, []*Recipient{rc}, dsn.Failure)
	if err != nil {
		t.Fatalf("DSN not queued: %v", err)
	}
	if l := logb.String(); !strings.Contains(l, "returned header is incomplete") || !strings.Contains(l, "queue_id=Q1") || !strings.Contains(l, "err=") {
		t.Errorf("log %q", l)
	}
	// Counted (ebb_queue_dsn_header_incomplete_total) and said in the DSN
	// event's note (the journal's dsn record).
	if n := q.Stats().DSNHeaderIncomplete; n != 1 {
		t.Errorf("Stats().DSNHeaderIncomplete %d, want 1", n)
	}
	if n := dsnNote("failure", incomplete); !strings.HasPrefix(n, "failure; the returned header is incomplete") || !strings.Contains(n, "no such file or directory") {
		t.Errorf("DSN note %q", n)
	}
}

// syncWriter is a writer safe for the queue's goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
