package fetch

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// startRun starts ebb fetch run in the background.
func (e *fetchEnv) startRun(name string) (*exec.Cmd, *strings.Builder) {
	e.T.Helper()
	cmd := harness.AsUser(exec.Command(harness.Ebb(e.T), "fetch", "run", "-c", e.Conf, name), e.User)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		e.T.Fatal(err)
	}
	return cmd, &out
}

// A kill -9 in the middle of a large first run, and a restart: nothing
// lost, nothing deleted on the server before it was delivered to the
// Maildir, at most one duplicate. Then the same over POP3 with the server
// stopped mid-run: DELE comes only for what the queue delivered, so the
// stop (when the first messages are in the Maildir, while the run waits
// for the queue to deliver the rest) finds all of them on the server.
func TestFetchKill9AndServerStoppedMidRun(t *testing.T) {
	t.Parallel()
	e := newFetchEnv(t, map[string]string{"alice": "pw-a", "dave": "pw-d"}, "batch = 32\n", false, "")
	const n = 1000
	e.Remote.Put(t, "alice", "INBOX", harness.RemoteMsgs(n, 1, "crash", 4096)...)
	all := harness.IdsIn(t, filepath.Join(e.Remote.Maildir("alice", ""), "new"))
	if len(all) != n {
		t.Fatalf("remote has %d", len(all))
	}
	e.add("pw-a", e.imapsArgs("big", "alice", "alice@example.test", "--after", "delete")...)
	cmd, out := e.startRun("big")
	fetchWait(t, 60*time.Second, "the first messages to arrive", func() bool { return e.Count("alice") >= 150 })
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	local := e.localIDs("alice")
	spool := harness.IdsIn(t, filepath.Join(e.Spool, "queue"))
	server := harness.IdsIn(t, filepath.Join(e.Remote.Maildir("alice", ""), "new"), filepath.Join(e.Remote.Maildir("alice", ""), "cur"))
	t.Logf("at the kill: %d in the Maildir, %d in the spool, %d on the server", len(local), len(spool), len(server))
	if len(local) >= n {
		t.Fatalf("the run finished before the kill; output:\n%s", out)
	}
	// A server copy goes only once its message is in the Maildir: durable
	// in the spool is not enough (docs/fetch.md, "Nothing is lost").
	for id := range all {
		if server[id] == 0 && local[id] == 0 {
			t.Fatalf("%s was deleted on the server before it was delivered (in the spool: %d)", id, spool[id])
		}
	}
	// The queue's own crash rule: a message it had put into the Maildir
	// but not yet taken off the spool is delivered again (as Postfix
	// does). Fetching adds at most its one in-flight message.
	queueDups := 0
	for id := range spool {
		if local[id] > 0 {
			queueDups++
		}
	}
	r := e.run("big")
	t.Logf("restart: %s", strings.TrimSpace(r.Stdout))
	local = e.localIDs("alice")
	if len(local) != n || harness.DupCount(local) > 1+queueDups {
		t.Fatalf("after the restart %d distinct (want %d), %d duplicates (at most 1 + %d the queue redelivers)", len(local), n, harness.DupCount(local), queueDups)
	}
	if c := e.Remote.Count("alice", "INBOX"); c != 0 {
		t.Fatalf("%d left on the server", c)
	}

	// POP3, the server stopped mid-fetch: the run fails saying so, and
	// nothing is deleted (DELE commits only at QUIT).
	// More messages than above: the stop must come while the run still
	// waits for its queue, and a pass reads and the queue delivers some
	// 1,000 a second here (fetch pipelines its reads), so 1,000 could be
	// all fetched, delivered and deleted before a stop after the first 150
	// took effect.
	const nPop = 4 * n
	e.Remote.Put(t, "dave", "INBOX", harness.RemoteMsgs(nPop, 5000, "stopped", 4096)...)
	daves := harness.IdsIn(t, filepath.Join(e.Remote.Maildir("dave", ""), "new"))
	e.add("pw-d", "bigpop", "--protocol", "pop3", "--server", e.Remote.POP3S, "--user", "dave", "--to", "bob@example.test",
		"--ca-file", e.Remote.CACert, "--after", "delete")
	cmd, out = e.startRun("bigpop")
	fetchWait(t, 60*time.Second, "the first messages to arrive", func() bool { return e.Count("bob") >= 150 })
	e.Remote.Stop()
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 75 || !strings.Contains(out.String(), "the server closed the connection") {
		t.Fatalf("run with the server stopped: %v\n%s", err, out)
	}
	if c := e.Remote.Count("dave", "INBOX"); c != nPop {
		// Which are gone, and were they delivered (a QUIT that got
		// through) or not (deleted without QUIT)? A second count tells a
		// Maildir still changing.
		server := harness.IdsIn(t, filepath.Join(e.Remote.Maildir("dave", ""), "new"), filepath.Join(e.Remote.Maildir("dave", ""), "cur"))
		bob := e.localIDs("bob")
		gone, delivered := 0, 0
		for id := range daves {
			if server[id] == 0 {
				gone++
				if bob[id] > 0 {
					delivered++
				}
			}
		}
		t.Fatalf("%d on the server after the stop (%d a moment later; %d messages gone, %d of them delivered to bob, who has %d); want all %d (nothing deleted before QUIT); the run said:\n%s",
			c, e.Remote.Count("dave", "INBOX"), gone, delivered, len(bob), nPop, out)
	}
	if l := e.listLine("bigpop"); !strings.Contains(l, "FAILING (server") {
		t.Fatalf("fetch list: %s", l)
	}
	e.Remote.Start(t)
	e.run("bigpop")
	bob := e.localIDs("bob")
	// The run ended cleanly (it delivered its queue before it exited):
	// only the message in flight when the server went away can be twice.
	if len(bob) != nPop || harness.DupCount(bob) > 1 {
		t.Fatalf("bob after the restart: %d distinct (want %d), %d duplicates (at most 1)", len(bob), nPop, harness.DupCount(bob))
	}
	if c := e.Remote.Count("dave", "INBOX"); c != 0 {
		t.Fatalf("%d left on the server", c)
	}
}
