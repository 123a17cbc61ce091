package smtp

import (
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/ebbmail/ebb/test/harness"
)

// What a client sends never reaches a stored header raw: a HELO name, a
// sender or a recipient with control characters (\x01, ESC sequences) is
// refused at its command (501/553), and the message that is finally
// accepted has headers of printable text only. On the old code the
// recipient's \x01 and the sender's ESC went into Received: and
// Delivered-To:, Return-Path:.
func TestStoredHeadersCarryNoClientControlCharacters(t *testing.T) {
	t.Parallel()
	e := harness.NewServeEnv(t, harness.ServeOpts{})
	c := harness.DialFrom(t, e.SMTP, "127.0.0.2")
	for _, h := range []string{"evil\x01.example", "\x1b[2Jevil.example", "evil\x7f.example"} {
		if got := c.Cmd("EHLO " + h); !strings.HasPrefix(got, "501 5.5.2") {
			t.Errorf("EHLO %q = %q, want 501 5.5.2", h, got)
		}
	}
	if got := c.Cmd("EHLO client.example.org"); !strings.HasPrefix(got, "250") {
		t.Fatalf("EHLO: %q", got)
	}
	for _, f := range []string{"s\x1bc@example.org", "s\x01@example.org"} {
		if got := c.Cmd("MAIL FROM:<" + f + ">"); !strings.HasPrefix(got, "553 5.1.7") {
			t.Errorf("MAIL FROM:<%q> = %q, want 553 5.1.7", f, got)
		}
	}
	c.Cmd("MAIL FROM:<s@example.org>")
	for _, r := range []string{"alice\x01@example.test", "al\x1bice@example.test", "alice@example.test\x01"} {
		if got := c.Cmd("RCPT TO:<" + r + ">"); !strings.HasPrefix(got, "553 5.1.3") {
			t.Errorf("RCPT TO:<%q> = %q, want 553 5.1.3", r, got)
		}
	}
	c.Cmd("RCPT TO:<alice@example.test>")
	c.Cmd("DATA")
	if got := c.Cmd("From: s@example.org\r\nSubject: hygiene\r\n\r\nbody\r\n."); !strings.HasPrefix(got, "250") {
		t.Fatalf("DATA: %q", got)
	}
	c.Cmd("QUIT")
	e.WaitCount("alice", 1, 10*time.Second)
	msg := e.Messages("alice")[0]
	head := msg[:strings.Index(msg, "\n\n")]
	for _, r := range head {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			t.Errorf("control character %q in the stored header:\n%q", r, head)
		}
	}
	if !strings.Contains(head, "Received: from client.example.org ([127.0.0.2])") {
		t.Errorf("Received does not name the clean HELO and the source:\n%s", head)
	}
}
