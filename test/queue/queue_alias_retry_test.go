package queue

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// An alias reaches two mailboxes and one of them cannot take the message:
// the other gets it once, and the retry after the fix delivers only what is
// missing (the queue keeps what each attempt got done), never a second copy.
func TestQueueAliasPartialFailureIsNotDeliveredTwice(t *testing.T) {
	t.Parallel()
	e := harness.NewQueueEnv(t, "")
	e.EbbAsUser(nil, "alias", "add", "-c", e.Conf, "team@example.test", "bob@example.test", "carol@example.test")
	box := e.Maildir("bob")
	for _, sub := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(box, sub), 0o755)
	}
	harness.Chown(t, e.Mail, e.User)
	for _, p := range []string{box, filepath.Join(box, "tmp"), filepath.Join(box, "new"), filepath.Join(box, "cur")} {
		os.Chown(p, 0, 0) // root's: the daemon user cannot write
	}
	e.Start()
	msg := filepath.Join(e.Dir, "team.eml")
	harness.WriteMessage(t, msg, "team", 300)
	if r := e.Swaks("team@example.test", msg); r.Code != 0 {
		t.Fatalf("swaks: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	e.WaitFor("carol delivered, bob deferred", func() bool {
		_, q := e.Mailq()
		return len(e.Delivered("carol")) == 1 && q.Summary.ByState["deferred"] == 1
	})
	harness.Chown(t, box, e.User)
	if r := e.Ebb("queue", "flush", "-c", e.Conf); r.Code != 0 {
		t.Fatalf("queue flush: exit %d: %s", r.Code, r.Stderr)
	}
	e.WaitFor("bob delivered", func() bool { return len(e.Delivered("bob")) == 1 })
	e.WaitFor("queue empty", func() bool {
		_, q := e.Mailq()
		return len(q.Messages) == 0
	})
	if n := len(e.Delivered("carol")); n != 1 {
		t.Errorf("carol has %d copies after the retry, want 1", n)
	}
}
