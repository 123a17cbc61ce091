package smtp

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/test/harness"
)

// addLegacyMailbox writes a mailbox row the way ebb before issue 24 let
// ebb user add write it, past today's name checks: what an upgraded
// directory may still hold. The data directory goes back to u.
func addLegacyMailbox(t *testing.T, conf, data string, u harness.User, address string) {
	t.Helper()
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := directory.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	local, domain, _ := strings.Cut(address, "@")
	_, err = d.DB().ExecContext(ctx, `INSERT INTO mailboxes (lookup, address, domain, enabled) VALUES (?, ?, ?, 1)`,
		strings.ToLower(address), address, domain)
	d.Close()
	if err != nil {
		t.Fatalf("insert %s (local part %q): %v", address, local, err)
	}
	harness.Chown(t, data, u)
}

// Nothing is answered 250 that the delivery or the queue would later
// refuse permanently: each case is refused at MAIL or RCPT with a 5xx (a 4xx
// would make the client retry for days), with the reason the bounce would
// have carried, and no bounce is ever queued. On the old code a disabled
// mailbox, a mailbox whose name cannot be a directory and the odd senders
// were answered 250 and bounced; "john smith" got 451 4.3.0.
func TestNoBackscatter(t *testing.T) {
	t.Parallel()
	e := harness.NewServeEnv(t, harness.ServeOpts{})
	e.EbbAsUser("user", "add", "-c", e.Conf, "--no-password", "carol@example.test")
	e.EbbAsUser("user", "disable", "-c", e.Conf, "carol@example.test")
	// ebb user add refuses a name that cannot be a Maildir (issue 24);
	// one added before that check is still refused at RCPT.
	if r := harness.Run(t, harness.AsUser(exec.Command(harness.Ebb(t), "user", "add", "-c", e.Conf, "--no-password", "a/b@example.test"), e.User), nil); r.Code != diag.ExDataErr || !strings.Contains(r.Stderr, `"/" in the local part`) {
		t.Errorf("ebb user add a/b@example.test: exit %d %s; want 65 saying why", r.Code, r.Stderr)
	}
	addLegacyMailbox(t, e.Conf, filepath.Join(e.Dir, "data"), e.User, "a/b@example.test")
	e.EbbAsUser("alias", "add", "-c", e.Conf, "team@example.test", "bob@example.test", "carol@example.test")
	e.EbbAsUser("alias", "add", "-c", e.Conf, "loop@example.test", "bob@example.test")

	rcpts := []struct{ rcpt, want, reason string }{
		{"carol@example.test", "550 5.2.1", "Mailbox disabled"},
		{"team@example.test", "550 5.2.1", "Mailbox disabled"},
		{"a/b@example.test", "550 5.1.3", "Bad mailbox address"},
		{"alice@example.test..", "553 5.1.3", "empty label"},
		{`"john smith"@example.test`, "553 5.1.3", "quotes"},
		{`"a<b"@example.test`, "553 5.1.3", "not allowed"},
		{"nobody@example.test", "550 5.1.1", "no such user"},
	}
	senders := []struct{ from, want string }{
		{`"john smith"@example.org`, "553 5.1.7"},
		{"\"john\tsmith\"@example.org", "553 5.1.7"},
		{`"a<b"@example.org`, "553 5.1.7"},
		{"\"a\rb\"@example.org", "553 5.1.7"},
		{"s@exa\x00mple.org", "553 5.1.7"},
		{"s@example.org..", "553 5.1.7"},
		{"nobody@example.test", "550 5.1.8"}, // ours but unknown: its bounce would fail
		{"carol@example.test", "250"},        // disabled, but it exists: it may still send
	}
	c := harness.DialFrom(t, e.SMTP, "127.0.0.2")
	c.Cmd("EHLO client.example.org")
	for _, r := range rcpts {
		c.Cmd("RSET")
		if got := c.Cmd("MAIL FROM:<s@example.org>"); !strings.HasPrefix(got, "250") {
			t.Fatalf("MAIL: %q", got)
		}
		if got := c.Cmd("RCPT TO:<" + r.rcpt + ">"); !strings.HasPrefix(got, r.want) || !strings.Contains(got, r.reason) {
			t.Errorf("RCPT TO:<%s> = %q, want %s with %q", r.rcpt, got, r.want, r.reason)
		}
	}
	for _, s := range senders {
		c.Cmd("RSET")
		if got := c.Cmd("MAIL FROM:<" + s.from + ">"); !strings.HasPrefix(got, s.want) {
			t.Errorf("MAIL FROM:<%q> = %q, want %s", s.from, got, s.want)
		}
	}
	// A message that already went through one of the recipient's mailboxes
	// would be bounced as a loop by the delivery: refused at the end of
	// DATA instead, with the bounce's words.
	c.Cmd("RSET")
	c.Cmd("MAIL FROM:<s@example.org>")
	c.Cmd("RCPT TO:<loop@example.test>")
	c.Cmd("RCPT TO:<alice@example.test>")
	c.Cmd("DATA")
	if got := c.Cmd("From: s@example.org\r\nDelivered-To: bob@example.test\r\nSubject: loop\r\n\r\nbody\r\n."); !strings.HasPrefix(got, "554 5.4.6 Mail forwarding loop") {
		t.Errorf("DATA of a looping message = %q, want 554 5.4.6", got)
	}
	// The control: a good message in the same session is delivered.
	c.Cmd("RSET")
	c.Cmd("MAIL FROM:<s@example.org>")
	c.Cmd("RCPT TO:<bob@example.test>")
	c.Cmd("DATA")
	if got := c.Cmd("From: s@example.org\r\nSubject: control\r\n\r\nbody\r\n."); !strings.HasPrefix(got, "250") {
		t.Fatalf("DATA: %q", got)
	}
	c.Cmd("QUIT")
	e.WaitCount("bob", 1, 10*time.Second)
	// Done with it: a bounce would have been queued before its removal.
	harness.WaitLogFile(t, e.LogPath, "msg=removed ", 1, 10*time.Second)

	log := e.Log()
	if strings.Contains(log, "bounce queued") {
		t.Errorf("a bounce was queued:\n%s", harness.Tail(log, 30))
	}
	if n := strings.Count(log, `msg="smtp message accepted"`); n != 1 {
		t.Errorf("%d messages accepted, want the one control message", n)
	}
	if left := harness.SpoolFiles(t, e.Spool); len(left) != 0 {
		t.Errorf("the spool still holds %v (a bounce?)", left)
	}
}

// RFC 5321 §4.5.1: postmaster@ a hosted domain is accepted without a
// mailbox of that name; directory.postmaster says where it goes. The bare
// "RCPT TO:<Postmaster>" of §4.1.1.3, which a server MUST accept, is the
// postmaster of the host's own domain (the one added first).
func TestPostmasterOfAHostedDomainIsAccepted(t *testing.T) {
	t.Parallel()
	e := harness.NewServeEnv(t, harness.ServeOpts{Extra: "[directory]\npostmaster = \"alice@example.test\"\n"})
	c := harness.DialFrom(t, e.SMTP, "127.0.0.2")
	c.Cmd("EHLO client.example.org")
	for i, rcpt := range []string{"<Postmaster>", "<PostMaster@example.test>"} {
		c.Cmd("MAIL FROM:<s@example.org>")
		if got := c.Cmd("RCPT TO:" + rcpt); !strings.HasPrefix(got, "250 2.1.5") {
			t.Fatalf("RCPT TO:%s = %q", rcpt, got)
		}
		c.Cmd("DATA")
		if got := c.Cmd(fmt.Sprintf("From: s@example.org\r\nSubject: to the postmaster %d\r\n\r\nbody\r\n.", i)); !strings.HasPrefix(got, "250") {
			t.Fatalf("DATA: %q", got)
		}
	}
	e.WaitCount("alice", 2, 10*time.Second)
	var got []string
	for _, m := range e.Messages("alice") {
		got = append(got, mailHeader(m, "Subject")+": "+mailHeader(m, "Delivered-To"))
	}
	sort.Strings(got)
	if want := "to the postmaster 0: postmaster@example.test|to the postmaster 1: PostMaster@example.test"; strings.Join(got, "|") != want {
		t.Errorf("alice holds %q, want %q", got, want)
	}
}
