package fetch

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// An IMAPS account fetches into the local Maildir exactly once: a
// self-signed certificate is refused (with its subject and why) until its
// CA is given; the first run, an incremental run and a run with nothing
// new; the server's \Seen is untouched (BODY.PEEK[]); delete and move
// remove only what is delivered.
func TestFetchIMAPExactlyOnceKeepDeleteMove(t *testing.T) {
	t.Parallel()
	e := newFetchEnv(t, map[string]string{"alice": "pw-a", "bob": "pw-b", "carol": "pw-c"}, "", false, "")
	e.Remote.Put(t, "alice", "INBOX", harness.RemoteMsgs(20, 1, "keep", 2000)...)

	// Without the CA: refused, and the cause says which certificate and why.
	e.add("pw-a", "work", "--server", e.Remote.IMAPS, "--user", "alice", "--to", "alice@example.test")
	r := e.fetch("run", "work")
	if r.Code != 75 || !strings.Contains(r.Stderr, "remote.test") || !strings.Contains(r.Stderr, "self-signed") || !strings.Contains(r.Stderr, "--ca-file") {
		t.Fatalf("self-signed server: exit %d, stderr:\n%s", r.Code, r.Stderr)
	}
	if l := e.listLine("work"); !strings.Contains(l, "FAILING (tls") {
		t.Fatalf("fetch list after the TLS failure: %s", l)
	}
	if e.Count("alice") != 0 {
		t.Fatal("mail arrived over a refused TLS session")
	}
	e.fetch("remove", "work")

	e.add("pw-a", e.imapsArgs("work", "alice", "alice@example.test")...)
	if r := e.fetch("test", "work"); r.Code != 0 || !strings.Contains(r.Stdout, "over IMAPS as alice; the server offers IDLE CONDSTORE UIDPLUS MOVE") ||
		!strings.Contains(r.Stdout, "folder INBOX (fetched)") {
		t.Fatalf("ebb fetch test: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	out := e.run("work")
	if !strings.Contains(out.Stdout, "work: 20 fetched") {
		t.Fatalf("first run: %s%s", out.Stdout, out.Stderr)
	}
	ids := e.localIDs("alice")
	if len(ids) != 20 || harness.DupCount(ids) != 0 {
		t.Fatalf("first run delivered %d distinct, %d duplicates; want 20, 0", len(ids), harness.DupCount(ids))
	}
	m := e.Messages("alice")[0]
	if !strings.Contains(m, "ebb fetch account work, user alice, folder INBOX, uid ") || !strings.Contains(m, "with IMAPS id ") {
		t.Fatalf("no Received header naming the server, account and UID:\n%.600s", m)
	}
	if l := e.listLine("work"); !strings.Contains(l, "ok (20 fetched in all)") {
		t.Fatalf("fetch list: %s", l)
	}
	// BODY.PEEK[]: the server's \Seen did not change; keep left them there.
	c := harness.DialIMAP(t, e.Remote.IMAP, "alice", "pw-a")
	fs, err := c.FetchAll("INBOX")
	if err != nil || len(fs) != 20 {
		t.Fatalf("server INBOX after keep: %d messages, %v", len(fs), err)
	}
	for _, f := range fs {
		if strings.Contains(f.Flags, `\Seen`) {
			t.Fatalf("message %d got \\Seen on the server: %s", f.Seq, f.Flags)
		}
	}

	e.Remote.Put(t, "alice", "INBOX", harness.RemoteMsgs(5, 21, "keep", 2000)...)
	if out := e.run("work"); !strings.Contains(out.Stdout, "work: 5 fetched") {
		t.Fatalf("incremental run: %s", out.Stdout)
	}
	if out := e.run("work"); !strings.Contains(out.Stdout, "work: 0 fetched") {
		t.Fatalf("run with nothing new: %s", out.Stdout)
	}
	ids = e.localIDs("alice")
	if len(ids) != 25 || harness.DupCount(ids) != 0 {
		t.Fatalf("after three runs %d distinct, %d duplicates; want 25, 0", len(ids), harness.DupCount(ids))
	}

	// delete (UID STORE \Deleted + UID EXPUNGE) and move (UID MOVE).
	e.Remote.Put(t, "bob", "INBOX", harness.RemoteMsgs(10, 100, "delete", 1000)...)
	e.Remote.Put(t, "carol", "INBOX", harness.RemoteMsgs(10, 200, "move", 1000)...)
	e.Remote.Put(t, "carol", "Archive")
	e.add("pw-b", e.imapsArgs("del", "bob", "bob@example.test", "--after", "delete")...)
	e.add("pw-c", e.imapsArgs("mv", "carol", "bob@example.test", "--after", "move", "--move-to", "Archive")...)
	e.run("del", "mv")
	if n := e.Remote.Count("bob", "INBOX"); n != 0 {
		t.Fatalf("delete left %d messages on the server", n)
	}
	if a, n := e.Remote.Count("carol", "Archive"), e.Remote.Count("carol", "INBOX"); a != 10 || n != 0 {
		t.Fatalf("move: Archive %d, INBOX %d; want 10, 0", a, n)
	}
	ids = e.localIDs("bob")
	if len(ids) != 20 || harness.DupCount(ids) != 0 {
		t.Fatalf("bob got %d distinct, %d duplicates; want 20, 0", len(ids), harness.DupCount(ids))
	}
	// The moved ones are not fetched again from INBOX, nor the deleted.
	if out := e.run("del", "mv"); !strings.Contains(out.Stdout, "del: 0 fetched") || !strings.Contains(out.Stdout, "mv: 0 fetched") {
		t.Fatalf("second run: %s", out.Stdout)
	}
}

// IMAP with STARTTLS against Dovecot 2.3, the usual local server: ebb
// fetch test names the session as it is and what the server offers; ebb
// fetch run fetches and deletes; ebb serve logs in, waits in IDLE and
// fetches what is pushed — no pass fails. (After STARTTLS the greeting
// names no capabilities, so go-imap asks CAPABILITY, and Dovecot ends
// its answer with "T OK Capability completed (0.001 + 0.000 secs).": a
// "(" after the word that is no capability list.)
func TestFetchIMAPWithSTARTTLS(t *testing.T) {
	t.Parallel()
	e := newFetchEnv(t, map[string]string{"carol": "pw-c", "dave": "pw-d"}, `interval = "1h"`, false, "")
	e.Remote.Put(t, "carol", "INBOX", harness.RemoteMsgs(10, 1, "starttls", 2000)...)
	e.add("pw-c", "st", "--server", e.Remote.IMAP, "--tls", "starttls", "--user", "carol", "--to", "alice@example.test",
		"--ca-file", e.Remote.CACert, "--after", "delete")
	r := e.fetch("test", "st")
	if r.Code != 0 || !strings.Contains(r.Stdout, "over IMAP with STARTTLS as carol; the server offers IDLE CONDSTORE UIDPLUS MOVE\n") ||
		!strings.Contains(r.Stdout, "folder INBOX (fetched)") {
		t.Fatalf("ebb fetch test: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if out := e.run("st"); !strings.Contains(out.Stdout, "st: 10 fetched, 0 already delivered, 10 removed") {
		t.Fatalf("ebb fetch run: %s%s", out.Stdout, out.Stderr)
	}
	if ids := e.localIDs("alice"); len(ids) != 10 || harness.DupCount(ids) != 0 || e.Remote.Count("carol", "INBOX") != 0 {
		t.Fatalf("after the run: %d distinct here, %d duplicates, %d on the server; want 10, 0, 0", len(ids), harness.DupCount(ids), e.Remote.Count("carol", "INBOX"))
	}
	if m := e.Messages("alice")[0]; !strings.Contains(m, "with IMAPS id ") {
		t.Fatalf("Received header of a message taken over TLS:\n%.600s", m)
	}
	if !strings.Contains(e.Remote.Log(), "TLS") {
		t.Fatalf("no TLS session in the server's log:\n%s", e.Remote.Log())
	}

	e.Start()
	fetchWait(t, time.Minute, "ebb serve in IDLE on carol's INBOX", func() bool { return e.Remote.Idling("carol") })
	e.Remote.Put(t, "carol", "INBOX", harness.RemoteMsgs(5, 11, "starttls", 2000)...)
	e.WaitCount("alice", 15, time.Minute)
	fetchWait(t, time.Minute, "the server copies deleted", func() bool { return e.Remote.Count("carol", "INBOX") == 0 })
	if ids := e.localIDs("alice"); len(ids) != 15 || harness.DupCount(ids) != 0 {
		t.Fatalf("after ebb serve: %d distinct, %d duplicates; want 15, 0", len(ids), harness.DupCount(ids))
	}
	if log := e.Log(); strings.Contains(log, `msg="fetch failed"`) {
		t.Fatalf("a pass failed:\n%s", harness.Tail(log, 30))
	}
	// The pass's count is stored after its last delete: wait for it.
	var l string
	if !harness.WaitOn(time.Minute, func() bool { l = e.listLine("st"); return strings.Contains(l, "ok (15 fetched in all)") }) {
		t.Fatalf("fetch list: %s", l)
	}

	// An account added while ebb serve runs starts at its reload (SIGHUP),
	// not at the next 30 s read of the account list.
	e.Remote.Put(t, "dave", "INBOX", harness.RemoteMsgs(2, 100, "added later", 1000)...)
	e.add("pw-d", "st2", "--server", e.Remote.IMAP, "--tls", "starttls", "--user", "dave", "--to", "bob@example.test",
		"--ca-file", e.Remote.CACert)
	e.Signal(syscall.SIGHUP)
	fetchWait(t, 30*time.Second, "the reload", func() bool { return strings.Contains(e.Log(), "reload: the fetch accounts are read again") })
	e.WaitCount("bob", 2, 30*time.Second)
}
