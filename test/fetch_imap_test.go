package test

import (
	"strings"
	"testing"

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
	e.Remote.Put(t, "alice", "INBOX", remoteMsgs(20, 1, "keep", 2000)...)

	// Without the CA: refused, and the cause says which certificate and why.
	e.add("pw-a", "work", "--server", e.Remote.IMAPS, "--user", "alice", "--to", "alice@example.test")
	r := e.fetch("run", "work")
	if r.Code != 75 || !strings.Contains(r.Stderr, "remote.test") || !strings.Contains(r.Stderr, "self-signed") || !strings.Contains(r.Stderr, "--ca-file") {
		t.Fatalf("self-signed server: exit %d, stderr:\n%s", r.Code, r.Stderr)
	}
	if l := e.listLine("work"); !strings.Contains(l, "FAILING (tls") {
		t.Fatalf("fetch list after the TLS failure: %s", l)
	}
	if e.count("alice") != 0 {
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
	if len(ids) != 20 || dupCount(ids) != 0 {
		t.Fatalf("first run delivered %d distinct, %d duplicates; want 20, 0", len(ids), dupCount(ids))
	}
	m := e.messages("alice")[0]
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

	e.Remote.Put(t, "alice", "INBOX", remoteMsgs(5, 21, "keep", 2000)...)
	if out := e.run("work"); !strings.Contains(out.Stdout, "work: 5 fetched") {
		t.Fatalf("incremental run: %s", out.Stdout)
	}
	if out := e.run("work"); !strings.Contains(out.Stdout, "work: 0 fetched") {
		t.Fatalf("run with nothing new: %s", out.Stdout)
	}
	ids = e.localIDs("alice")
	if len(ids) != 25 || dupCount(ids) != 0 {
		t.Fatalf("after three runs %d distinct, %d duplicates; want 25, 0", len(ids), dupCount(ids))
	}

	// delete (UID STORE \Deleted + UID EXPUNGE) and move (UID MOVE).
	e.Remote.Put(t, "bob", "INBOX", remoteMsgs(10, 100, "delete", 1000)...)
	e.Remote.Put(t, "carol", "INBOX", remoteMsgs(10, 200, "move", 1000)...)
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
	if len(ids) != 20 || dupCount(ids) != 0 {
		t.Fatalf("bob got %d distinct, %d duplicates; want 20, 0", len(ids), dupCount(ids))
	}
	// The moved ones are not fetched again from INBOX, nor the deleted.
	if out := e.run("del", "mv"); !strings.Contains(out.Stdout, "del: 0 fetched") || !strings.Contains(out.Stdout, "mv: 0 fetched") {
		t.Fatalf("second run: %s", out.Stdout)
	}
}
