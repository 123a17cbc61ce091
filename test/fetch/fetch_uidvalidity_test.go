package fetch

import (
	"os"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// A UIDVALIDITY change follows fetch.uidvalidity_change, never a silent
// refetch: stop says so (run, list) and fetches nothing until ebb fetch
// reset, which goes through the folder again skipping what was delivered
// (by the digest of its content); refetch does that by itself.
func TestFetchUIDValidityChangeUnderEachRule(t *testing.T) {
	t.Parallel()
	e := newFetchEnv(t, map[string]string{"alice": "pw-a"}, "", false, "")
	e.Remote.Put(t, "alice", "INBOX", harness.RemoteMsgs(5, 1, "uv", 800)...)
	e.add("pw-a", e.imapsArgs("work", "alice", "alice@example.test")...)
	e.run("work")

	// Rule stop (the default).
	e.Remote.ResetUIDValidity(t, "alice", "INBOX", 12345)
	e.Remote.Put(t, "alice", "INBOX", harness.RemoteMsgs(2, 6, "uv", 800)...)
	for i := 0; i < 2; i++ {
		r := e.fetch("run", "work")
		if r.Code != 75 || !strings.Contains(r.Stderr, "changed from") || !strings.Contains(r.Stderr, "to 12345") ||
			!strings.Contains(r.Stderr, "ebb fetch reset work") {
			t.Fatalf("run %d after the change: exit %d\n%s%s", i, r.Code, r.Stdout, r.Stderr)
		}
	}
	if l := e.listLine("work"); !strings.Contains(l, "FAILING (uidvalidity, 2 in a row)") {
		t.Fatalf("fetch list: %s", l)
	}
	if n := e.Count("alice"); n != 5 {
		t.Fatalf("%d local messages after the stop; want 5", n)
	}
	if r := e.fetch("reset", "work"); r.Code != 0 {
		t.Fatalf("reset: %s", r.Stderr)
	}
	if out := e.run("work"); !strings.Contains(out.Stdout, "work: 2 fetched, 5 already delivered") {
		t.Fatalf("run after reset: %s", out.Stdout)
	}

	// Rule refetch.
	conf, _ := os.ReadFile(e.Conf)
	os.WriteFile(e.Conf, []byte(strings.Replace(string(conf), "[fetch]\n", "[fetch]\nuidvalidity_change = \"refetch\"\n", 1)), 0o644)
	e.Remote.ResetUIDValidity(t, "alice", "INBOX", 23456)
	e.Remote.Put(t, "alice", "INBOX", harness.RemoteMsgs(1, 8, "uv", 800)...)
	if out := e.run("work"); !strings.Contains(out.Stdout, "work: 1 fetched, 7 already delivered") {
		t.Fatalf("run under refetch: %s%s", out.Stdout, out.Stderr)
	}
	if ids := e.localIDs("alice"); len(ids) != 8 || harness.DupCount(ids) != 0 {
		t.Fatalf("alice: %d distinct, %d duplicates; want 8, 0", len(ids), harness.DupCount(ids))
	}
}

// After a UIDVALIDITY change, what was fetched is known by the digest of
// its content: two messages with neither Message-ID nor Date and of one
// size are two (a hash of Message-ID, Date and size took them for one),
// and a third of that size, new, is fetched. Each arrives exactly once.
func TestFetchUIDValidityKnowsHeaderlessMessages(t *testing.T) {
	t.Parallel()
	e := newFetchEnv(t, map[string]string{"alice": "pw-a"}, `uidvalidity_change = "refetch"`+"\n", false, "")
	body := func(c byte) []byte {
		return []byte(strings.Repeat(string(c), 70) + "\r\n" + strings.Repeat(string(c), 70) + "\r\n")
	}
	e.Remote.Put(t, "alice", "INBOX", body('a'), body('b'))
	e.add("pw-a", e.imapsArgs("plain", "alice", "alice@example.test")...)
	if out := e.run("plain"); !strings.Contains(out.Stdout, "plain: 2 fetched, 0 already delivered") {
		t.Fatalf("first run: %s", out.Stdout)
	}
	e.Remote.ResetUIDValidity(t, "alice", "INBOX", 54321)
	e.Remote.Put(t, "alice", "INBOX", body('c'))
	if out := e.run("plain"); !strings.Contains(out.Stdout, "plain: 1 fetched, 2 already delivered") {
		t.Fatalf("after the change: %s%s", out.Stdout, out.Stderr)
	}
	got := map[byte]int{}
	for _, m := range e.Messages("alice") {
		lines := strings.Split(strings.TrimRight(m, "\r\n"), "\n")
		got[strings.TrimSpace(lines[len(lines)-1])[0]]++
	}
	if got['a'] != 1 || got['b'] != 1 || got['c'] != 1 || len(got) != 3 {
		t.Fatalf("in the mailbox: %v; want a, b and c once each", got)
	}
}
