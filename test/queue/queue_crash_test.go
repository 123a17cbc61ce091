package queue

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

var (
	deliveredLine = regexp.MustCompile(`msg=delivery .*queue_id=([0-9A-Z]+) .*outcome=delivered`)
	receivedID    = regexp.MustCompile(`(?ms)^Received: .*?\bid ([^\s;]+)`)
)

// Crash safety: kill -9 the daemon while smtp-source sends, restart it,
// and count. Every message that got its 250 must be delivered; a message
// may come twice only if its delivery was in flight at the kill (at most
// queue.workers of them).
func TestQueueKill9DuringLoadLosesNothing(t *testing.T) {
	t.Parallel()
	harness.Install(t, "postfix")
	e := harness.NewQueueEnv(t, "workers = 8")
	// Deliveries succeed: the Maildir is the daemon user's.
	harness.Chown(t, e.Mail, e.User)
	e.Start()

	src := exec.Command("/usr/sbin/smtp-source", "-v", "-s", "10", "-m", "4000", "-l", "2048",
		"-f", "alice@example.org", "-t", "bob@example.test", e.SMTP)
	out, err := src.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := src.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := queuedAs.FindStringSubmatch(sc.Text()); m != nil {
			acked[m[1]] = true
			if len(acked) == 200 && !killed {
				e.Kill() // SIGKILL: no shutdown, no flush
				killed = true
			}
		}
	}
	src.Wait() // it fails: the server went away under it
	if !killed {
		t.Fatalf("smtp-source ended after %d messages before the kill", len(acked))
	}
	t.Logf("%s: killed after %d messages got 250", time.Since(start).Round(time.Millisecond), len(acked))

	e.Start()
	t.Logf("%s: restarted", time.Since(start).Round(time.Millisecond))
	e.WaitFor("the queue drained after the restart", func() bool {
		text, _ := e.Mailq()
		return strings.TrimSpace(text) == "Mail queue is empty"
	})
	t.Logf("%s: drained", time.Since(start).Round(time.Millisecond))
	e.Stop()

	// Every acknowledged queue id has a delivery in the log of one of the
	// two runs (a restart retries whatever the kill interrupted).
	delivered := map[string]int{}
	for _, m := range deliveredLine.FindAllStringSubmatch(e.Log(), -1) {
		delivered[m[1]]++
	}
	lost := 0
	for id := range acked {
		if delivered[id] == 0 {
			lost++
			if lost <= 5 {
				t.Errorf("%s got 250 but was never delivered", id)
			}
		}
	}
	// What is in the Maildir: one file per transaction, the Received
	// header's id telling transactions apart; the rest came twice.
	files := e.Delivered("bob")
	seen := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := receivedID.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s has no Received header with an id", filepath.Base(f))
		}
		seen[string(m[1])]++
	}
	dups := len(files) - len(seen)
	t.Logf("acknowledged %d, lost %d, files %d, distinct transactions %d, delivered twice %d", len(acked), lost, len(files), len(seen), dups)
	if len(seen) < len(acked) {
		t.Errorf("%d distinct messages in the Maildir for %d acknowledged", len(seen), len(acked))
	}
	if dups > 8 {
		t.Errorf("%d messages came twice; at most the 8 in flight (queue.workers) may", dups)
	}
	// The journal was being written when the daemon was killed: it still
	// reads (a torn last line is skipped, never a corrupt journal), and
	// tells the story of an acknowledged message to its delivery.
	for id := range acked {
		r := e.Ebb("explain", "-c", e.Conf, id)
		if r.Code != 0 || !strings.Contains(r.Stdout, id+"  received") || !strings.Contains(r.Stdout, "delivered to") {
			t.Errorf("after kill -9, explain %s: exit %d\n%s%s", id, r.Code, r.Stdout, r.Stderr)
		}
		break
	}
}
