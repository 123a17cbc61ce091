package smtp

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// A message larger than a mailbox's whole quota can never be stored (no
// space freed makes room for it): it is refused while the client is
// connected, whatever mail.over_quota says, never answered 250 and
// deferred until queue.lifetime ends, then bounced (qa's walkthrough). With
// SIZE= in MAIL FROM the refusal comes at RCPT, for that recipient alone;
// without it, at the end of DATA (swaks sends no SIZE=). A message that
// fits is delivered. Under mail.over_quota = "permanent" the mailbox's
// fill counts too at the end of DATA, as the delivery counts it.
func TestMessageLargerThanTheQuotaIsRefused(t *testing.T) {
	t.Parallel()
	e := harness.NewServeEnv(t, harness.ServeOpts{})
	e.EbbAsUser("user", "quota", "-c", e.Conf, "alice@example.test", "4K")
	big := strings.Repeat("a line of a message too big for alice's quota\n", 200) // about 9.4 KB
	var refs []string
	refused := func(reply, where string) {
		t.Helper()
		if i := strings.Index(reply, "(ref "); i >= 0 {
			refs = append(refs, strings.TrimSuffix(strings.TrimSpace(reply[i+5:]), ")"))
		}
		if !strings.Contains(reply, "552 5.2.2") || !strings.Contains(reply, "Message larger than the mailbox's quota") ||
			!strings.Contains(reply, "(ref ") || strings.Contains(reply, e.Dir) {
			t.Errorf("%s: %q, want 552 5.2.2 with the delivery's words and a ref, no path", where, reply)
		}
	}

	// SIZE= declared: RCPT refuses alice, takes bob, and bob gets it.
	c := harness.DialFrom(t, e.SMTP, "127.0.0.2")
	if got := c.Cmd("EHLO client.example.org"); !strings.Contains(got, "SIZE") {
		t.Fatalf("EHLO: %q, no SIZE", got)
	}
	if got := c.Cmd("MAIL FROM:<s@example.org> SIZE=9800"); !strings.HasPrefix(got, "250") {
		t.Fatalf("MAIL: %q", got)
	}
	refused(c.Cmd("RCPT TO:<alice@example.test>"), "RCPT with SIZE=9800")
	if got := c.Cmd("RCPT TO:<bob@example.test>"); !strings.HasPrefix(got, "250") {
		t.Fatalf("RCPT bob: %q", got)
	}
	c.Cmd("DATA")
	if got := c.Cmd("From: s@example.org\r\nSubject: big, for bob\r\n\r\n" + strings.ReplaceAll(big, "\n", "\r\n") + "."); !strings.HasPrefix(got, "250") {
		t.Fatalf("DATA for bob: %q", got)
	}
	// A declared size that fits is taken at RCPT.
	c.Cmd("MAIL FROM:<s@example.org> SIZE=1000")
	if got := c.Cmd("RCPT TO:<alice@example.test>"); !strings.HasPrefix(got, "250") {
		t.Errorf("RCPT alice with SIZE=1000: %q", got)
	}
	c.Cmd("QUIT")
	e.WaitCount("bob", 1, 20*time.Second)

	// No SIZE=: swaks is answered 552 at the end of DATA.
	r := harness.Swaks(t, "--server", e.SMTP, "--from", "s@example.org", "--to", "alice@example.test",
		"--h-Subject", "big, no SIZE", "--body", big)
	if r.Code == 0 {
		t.Errorf("swaks of %d bytes to alice succeeded:\n%s", len(big), r.Stdout)
	}
	refused(lineWith(r.Stdout, " 552 "), "end of DATA")
	// Each ref opens the delivery's own story in ebb explain: the reason
	// and the fix the client never sees.
	for i, stage := range []string{"RCPT", "DATA"} {
		if len(refs) != 2 {
			t.Fatalf("refs %v, want one at RCPT and one at DATA", refs)
		}
		out := e.EbbAsUser("explain", "-c", e.Conf, refs[i]).Stdout
		for _, want := range []string{"refused at " + stage, "for <alice@example.test>", "552 5.2.2 ", "larger than the limit itself", "raise its quota above the message's size"} {
			if !strings.Contains(out, want) {
				t.Errorf("ebb explain %s (%s) lacks %q:\n%s", refs[i], stage, want, out)
			}
		}
	}
	// The control: a message that fits is delivered.
	if r := harness.Swaks(t, "--server", e.SMTP, "--from", "s@example.org", "--to", "alice@example.test",
		"--h-Subject", "small", "--body", "fits"); r.Code != 0 {
		t.Fatalf("swaks small: %d %s", r.Code, r.Stdout)
	}
	e.WaitCount("alice", 1, 20*time.Second)
	harness.WaitLogFile(t, e.LogPath, "msg=removed ", 2, 20*time.Second)
	if msgs := e.Messages("alice"); len(msgs) != 1 || !strings.Contains(msgs[0], "Subject: small") {
		t.Errorf("alice's Maildir holds %d messages, want the small one alone", len(msgs))
	}
	log := e.Log()
	if n := strings.Count(log, `msg="smtp message accepted"`); n != 2 || strings.Contains(log, "bounce queued") {
		t.Errorf("%d messages accepted (want bob's and the small one), bounce queued: %v\n%s", n, strings.Contains(log, "bounce queued"), harness.Tail(log, 30))
	}
	if left := harness.SpoolFiles(t, e.Spool); len(left) != 0 {
		t.Errorf("the spool still holds %v", left)
	}

	// over_quota = "permanent": alice holds the small message; one that
	// fits her quota but not what is left of it is refused at the end of
	// DATA ("Mailbox full"), since the delivery would bounce it now.
	e.Stop()
	b, err := os.ReadFile(e.Conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.Conf, []byte(strings.Replace(string(b), "[mail]\n", "[mail]\nover_quota = \"permanent\"\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	e.Start()
	almost := strings.Repeat("x", 70) + "\n"
	almost = strings.Repeat(almost, 45) // 3195 bytes, about 3.8 KB stored: under 4K, over what is left
	r = harness.Swaks(t, "--server", e.SMTP, "--from", "s@example.org", "--to", "alice@example.test",
		"--h-Subject", "fills", "--body", almost)
	if got := lineWith(r.Stdout, " 552 "); r.Code == 0 || !strings.Contains(got, "552 5.2.2 Mailbox full") || strings.Contains(got, e.Dir) {
		t.Errorf("over_quota permanent, a message past alice's fill: %q (exit %d), want 552 5.2.2 Mailbox full", got, r.Code)
	}
	if r := harness.Swaks(t, "--server", e.SMTP, "--from", "s@example.org", "--to", "alice@example.test",
		"--h-Subject", "small again", "--body", "fits"); r.Code != 0 {
		t.Fatalf("swaks small: %d %s", r.Code, r.Stdout)
	}
	e.WaitCount("alice", 2, 20*time.Second)
	harness.WaitLogFile(t, e.LogPath, "msg=removed ", 3, 20*time.Second) // the log is appended to across the restart
	if n := e.Count("alice"); n != 2 {
		t.Errorf("alice holds %d messages, want the two small ones", n)
	}
	if left := harness.SpoolFiles(t, e.Spool); len(left) != 0 {
		t.Errorf("the spool still holds %v", left)
	}
}

// lineWith is the first line of out that holds s, or "".
func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
