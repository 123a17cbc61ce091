package deliver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// A quota change applies at the next delivery (issue 21, item 4): alice
// holds a message of about 4 KiB under a 10M quota, and Dovecot has
// written maildirsize with that limit; the quota is lowered to 1K with ebb
// user quota; the next message is deferred (nothing is stored past a limit
// already exceeded), maildirsize's definition line says 1024S with a fresh
// count, and Dovecot, reading it, reports the usage and the new limit.
// Raised again, the message is delivered on the next attempt.
func TestQuotaChangeAppliesAtTheNextDelivery(t *testing.T) {
	t.Parallel()
	e, ddir := harness.NewDovecotServeEnv(t)
	e.EbbAs(t, nil, "user", "quota", "-c", e.Conf, "alice@example.test", "10M")
	d := harness.StartDovecotOnEbb(t, e, ddir)

	body := strings.Repeat("four kilobytes of mail. ", 170)
	if r := harness.Swaks(t, "--server", e.SMTP, "--from", "sender@example.org", "--to", "alice@example.test",
		"--h-Subject", "first", "--body", body); r.Code != 0 {
		t.Fatalf("swaks: %d %s", r.Code, r.Stdout)
	}
	e.WaitCount("alice", 1, 15*time.Second)
	// quota is Dovecot's STORAGE usage and limit, in KiB.
	quota := func() (used, limit int) {
		t.Helper()
		alice := harness.DialIMAP(t, d.Imap, "alice@example.test", "alice-pw")
		rs, err := alice.Cmd("GETQUOTAROOT INBOX")
		if err != nil {
			t.Fatalf("GETQUOTAROOT: %v", err)
		}
		for _, r := range rs {
			if i := strings.Index(r.Line, "(STORAGE "); strings.HasPrefix(r.Line, "* QUOTA ") && i >= 0 {
				fmt.Sscanf(r.Line[i:], "(STORAGE %d %d", &used, &limit)
				return used, limit
			}
		}
		t.Fatalf("no QUOTA in %v", rs)
		return
	}
	used, limit := quota()
	if used < 4 || limit != 10240 {
		t.Fatalf("Dovecot's quota before the change: %d of %d KiB", used, limit)
	}
	box := filepath.Join(e.Dir, "mail", "example.test", "alice", "Maildir")
	if b, _ := os.ReadFile(filepath.Join(box, "maildirsize")); !strings.HasPrefix(string(b), "10485760S") {
		t.Fatalf("maildirsize before the change: %q", b)
	}

	e.EbbAs(t, nil, "user", "quota", "-c", e.Conf, "alice@example.test", "1K")
	if r := harness.Swaks(t, "--server", e.SMTP, "--from", "sender@example.org", "--to", "alice@example.test",
		"--h-Subject", "second", "--body", "small"); r.Code != 0 {
		t.Fatalf("swaks: %d %s", r.Code, r.Stdout)
	}
	mailq := func() string {
		return harness.Run(t, exec.Command(harness.Ebb(t), "mailq", "-c", e.Conf), nil).Stdout
	}
	if !harness.WaitOn(20*time.Second, func() bool { return strings.Contains(mailq(), "over quota") }, harness.QueueDir(e.Spool)) {
		t.Fatalf("the second message was not deferred for the quota:\n%s\n%s", mailq(), e.Log())
	}
	if n := e.Count("alice"); n != 1 {
		t.Errorf("%d messages in alice's new/ after a 1K quota on 4 KiB, want 1", n)
	}
	b, _ := os.ReadFile(filepath.Join(box, "maildirsize"))
	if lines := strings.SplitN(string(b), "\n", 2); lines[0] != "1024S" || !strings.HasSuffix(lines[1], " 1\n") || strings.Count(lines[1], "\n") != 1 {
		t.Errorf("maildirsize %q, want the new limit 1024S and a fresh count", b)
	}
	// Dovecot reads the same file: its usage, and the limit it was given.
	if u, l := quota(); u != used || l != 1 {
		t.Errorf("Dovecot's quota after the change: %d of %d KiB, want %d of 1", u, l, used)
	}

	e.EbbAs(t, nil, "user", "quota", "-c", e.Conf, "alice@example.test", "10M")
	if r := harness.Run(t, exec.Command(harness.Ebb(t), "queue", "flush", "-c", e.Conf), nil); r.Code != 0 {
		t.Fatalf("flush: %s", r.Stderr)
	}
	e.WaitCount("alice", 2, 20*time.Second)
	if b, _ := os.ReadFile(filepath.Join(box, "maildirsize")); !strings.HasPrefix(string(b), "10485760S\n") {
		t.Errorf("maildirsize after raising the quota again: %q", b)
	}
}
