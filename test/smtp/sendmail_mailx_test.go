package smtp

import (
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// issue 5, done when: `echo hi | mailx -s test demo@example.test`, run as an
// ordinary user on a host where ebb is the sendmail, lands in the Maildir —
// with the daemon running, and with it stopped and started again.
func TestSendmailMailx(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnv(t, "")
	r := e.Mailx("hi\n", "-s", "test", "demo@example.test")
	if r.Code != 0 {
		t.Fatalf("mailx: exit %d\n%s%s\n%s", r.Code, r.Stdout, r.Stderr, e.Log())
	}
	msg := e.WaitMail("demo", 1)[0]
	for _, w := range []string{"Subject: test\n", "To: demo@example.test\n", "From: " + e.Caller.Name + "@example.test\n", "\n\nhi\n"} {
		if !strings.Contains(msg, w) {
			t.Errorf("want %q in:\n%s", w, msg)
		}
	}
	if mailHeader(msg, "Date") == "" || mailHeader(msg, "Message-ID") == "" {
		t.Errorf("Date or Message-ID missing:\n%s", msg)
	}

	// Stopped: mailx still succeeds (the message waits in the pickup
	// directory), with -r (becomes -f) and -b (Bcc, removed by -t).
	e.Stop()
	r = e.Mailx("while you were out\n", "-s", "later", "-r", "Demo Sender <info@example.test>", "-b", "boss@example.test", "demo@example.test")
	if r.Code != 0 {
		t.Fatalf("mailx with the daemon down: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if e.MailCount("demo") != 1 {
		t.Fatal("delivered while the daemon was down?")
	}
	e.Start()
	var later string
	for _, m := range e.WaitMail("demo", 2) {
		if mailHeader(m, "Subject") == "later" {
			later = m
		}
	}
	boss := e.WaitMail("boss", 1)[0]
	if later == "" || mailHeader(boss, "Subject") != "later" {
		t.Fatalf("not delivered after the start:\n%s\n%s", later, boss)
	}
	if got := mailHeader(later, "Return-Path"); got != "<info@example.test>" {
		t.Errorf("Return-Path %q: -r should become the envelope sender", got)
	}
	if got := mailHeader(later, "From"); got != "Demo Sender <info@example.test>" {
		t.Errorf("From %q", got)
	}
	if strings.Contains(later, "Bcc:") || strings.Contains(boss, "Bcc:") {
		t.Errorf("Bcc left in:\n%s", later)
	}
}
