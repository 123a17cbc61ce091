package queue

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// The story of the brief, through the daemon: bob's Maildir tmp/ is not
// writable for the daemon user. A small and a 1 MiB message are both
// accepted and both deferred with the same, complete reason in ebb mailq;
// the summary names the cause in one line. After the fix, ebb queue flush
// delivers each exactly once.
func TestQueueStoryUnwritableMaildirIsNamedAndFlushed(t *testing.T) {
	t.Parallel()
	e := harness.NewQueueEnv(t, "")
	box := e.Maildir("bob")
	e.RootOwnedMaildir(box) // the seed's story: the daemon user cannot write it
	e.Start()

	small := filepath.Join(e.Dir, "small.eml")
	big := filepath.Join(e.Dir, "big.eml")
	harness.WriteMessage(t, small, "small", 200)
	harness.WriteMessage(t, big, "big", 1<<20)
	var ids []string
	for _, f := range []string{small, big} {
		r := e.Swaks("bob@example.test", f)
		m := queuedAs.FindStringSubmatch(r.Stdout)
		if r.Code != 0 || m == nil {
			t.Fatalf("swaks %s: exit %d\n%s%s", filepath.Base(f), r.Code, r.Stdout, r.Stderr)
		}
		ids = append(ids, m[1])
	}

	tmp := filepath.Join(box, "tmp")
	reason := fmt.Sprintf("cannot create a file in %s: permission denied (running as uid %d %s; the directory is root:root 0755", tmp, e.User.UID, e.User.Name)
	var text string
	var q harness.MailqJSON
	e.WaitFor("both deferred", func() bool {
		// The text and the JSON are two runs of mailq: both must see it.
		text, q = e.Mailq()
		return q.Summary.ByState["deferred"] == 2 && strings.Contains(text, "2 recipients: 2 deferred")
	})
	for _, id := range ids {
		if !strings.Contains(text, id) {
			t.Errorf("mailq does not list %s:\n%s", id, text)
		}
	}
	if n := strings.Count(text, reason); n != 2 {
		t.Errorf("mailq shows the full reason %d times, want 2 (small and big alike):\n%s", n, text)
	}
	if !strings.Contains(text, "Fix: run: chown -R "+e.User.Name+":"+e.User.Name+" "+box) {
		t.Errorf("mailq shows no fix:\n%s", text)
	}
	summary := "2 deferred: cannot create a file in " + filepath.Join(e.Mail, "{domain}", "{local}", "Maildir", "tmp") + ": permission denied"
	if !strings.Contains(text, summary) {
		t.Errorf("mailq summary lacks %q:\n%s", summary, text)
	}
	for _, m := range q.Messages {
		r := m.Recipients[0]
		if r.State != "deferred" || r.Attempts != 1 || r.Error == nil || r.Error.Errno != "EACCES" || r.Error.Path != tmp {
			t.Errorf("mailq --json %s: %+v", m.ID, r)
			continue
		}
		// One reference id in mailq and in the log line of the attempt.
		if r.Error.Ref == "" || !strings.Contains(text, "ref "+r.Error.Ref) || !strings.Contains(e.Log(), "ref="+r.Error.Ref) {
			t.Errorf("ref %q of %s not in both mailq and the log", r.Error.Ref, m.ID)
		}
	}
	// show: envelope, the Received header ebb added, the attempt.
	show := e.Ebb("queue", "show", "-c", e.Conf, ids[1])
	for _, want := range []string{"Message " + ids[1], "from:      <alice@example.org>", "Received: from", "Subject: big", "History:", "deferred  <bob@example.test>", reason} {
		if !strings.Contains(show.Stdout, want) {
			t.Errorf("queue show lacks %q:\n%s", want, show.Stdout)
		}
	}

	// The fix, then a flush through the running daemon.
	harness.Chown(t, box, e.User)
	r := e.Ebb("queue", "flush", "-c", e.Conf)
	if r.Code != 0 {
		t.Fatalf("queue flush: exit %d: %s", r.Code, r.Stderr)
	}
	e.WaitFor("both delivered", func() bool { return len(e.Delivered("bob")) == 2 })
	e.WaitFor("queue empty", func() bool {
		text, _ = e.Mailq()
		return strings.TrimSpace(text) == "Mail queue is empty"
	})
	got := map[string]int{}
	for _, f := range e.Delivered("bob") {
		b, _ := os.ReadFile(f)
		for _, subject := range []string{"small", "big"} {
			if strings.Contains(string(b), "Subject: "+subject+"\r\n") || strings.Contains(string(b), "Subject: "+subject+"\n") {
				got[subject]++
			}
		}
	}
	if got["small"] != 1 || got["big"] != 1 {
		t.Errorf("delivered small %d times and big %d times, want each once", got["small"], got["big"])
	}
}

// A second daemon on the same spool is refused, naming the lock file and
// the pid that holds it.
func TestQueueSecondInstanceIsRefusedNamingLockAndPid(t *testing.T) {
	t.Parallel()
	e := harness.NewQueueEnv(t, "")
	e.Start()
	other := filepath.Join(e.Dir, "other.toml")
	b, _ := os.ReadFile(e.Conf)
	conf := strings.Replace(string(b), e.SMTP, fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t)), 1)
	os.WriteFile(other, []byte(conf), 0o644)
	r := harness.Run(t, exec.Command(harness.Ebb(t), "serve", "-c", other), nil)
	lock := filepath.Join(e.Spool, "lock")
	want := fmt.Sprintf("cannot lock the spool with %s: held by pid %d", lock, e.Srv.Pid())
	if r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Fatalf("second ebb serve: exit %d, stderr:\n%s\nwant it to contain %q", r.Code, r.Stderr, want)
	}
}

// mailq works without the daemon (it reads the spool), under the name
// mailq too; hold, release and delete work offline and the next start
// honours them.
func TestQueueCommandsWorkWithoutTheDaemon(t *testing.T) {
	t.Parallel()
	e := harness.NewQueueEnv(t, "")
	box := e.Maildir("bob")
	os.MkdirAll(filepath.Join(box, "tmp"), 0o755)
	harness.Chown(t, e.Mail, e.User)
	os.Chown(filepath.Join(box, "tmp"), 0, 0)
	e.Start()
	msg := filepath.Join(e.Dir, "m.eml")
	harness.WriteMessage(t, msg, "offline", 100)
	var ids []string
	for range 2 {
		r := e.Swaks("bob@example.test", msg)
		m := queuedAs.FindStringSubmatch(r.Stdout)
		if m == nil {
			t.Fatalf("swaks: %s", r.Stdout)
		}
		ids = append(ids, m[1])
	}
	e.WaitFor("deferred", func() bool { _, q := e.Mailq(); return q.Summary.ByState["deferred"] == 2 })
	e.Stop()

	// mailq under its own name, daemon down.
	link := filepath.Join(e.Dir, "mailq")
	if err := os.Symlink(harness.Ebb(t), link); err != nil {
		t.Fatal(err)
	}
	r := harness.Run(t, exec.Command(link, "-c", e.Conf), nil)
	if r.Code != 0 || !strings.Contains(r.Stdout, ids[0]) || !strings.Contains(r.Stdout, "2 deferred: cannot create a file in") {
		t.Fatalf("mailq (argv[0]) without daemon: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := e.Ebb("queue", "hold", "-c", e.Conf, ids[0]); r.Code != 0 {
		t.Fatalf("offline hold: %d %s", r.Code, r.Stderr)
	}
	if r := e.Ebb("queue", "delete", "-c", e.Conf, ids[1]); r.Code != 0 {
		t.Fatalf("offline delete: %d %s", r.Code, r.Stderr)
	}
	// The files a root command rewrote still belong to the daemon user.
	fi, err := os.Stat(filepath.Join(e.Spool, "queue", ids[0]+".state"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscallStat); int(st.Uid) != e.User.UID {
		t.Fatalf("envelope rewritten by root is owned by uid %d", st.Uid)
	}
	harness.Chown(t, box, e.User)
	e.Start()
	r = e.Ebb("queue", "show", "-c", e.Conf, ids[0])
	if !strings.Contains(r.Stdout, "held:      yes") {
		t.Fatalf("hold lost over the restart:\n%s", r.Stdout)
	}
	if len(e.Delivered("bob")) != 0 {
		t.Fatal("a held message was delivered")
	}
	if r := e.Ebb("queue", "release", "-c", e.Conf, ids[0]); r.Code != 0 {
		t.Fatalf("release: %d %s", r.Code, r.Stderr)
	}
	e.WaitFor("released message delivered", func() bool { return len(e.Delivered("bob")) == 1 })
	if r := e.Ebb("queue", "show", "-c", e.Conf, ids[1]); r.Code == 0 {
		t.Fatalf("deleted message still shown:\n%s", r.Stdout)
	}
}
