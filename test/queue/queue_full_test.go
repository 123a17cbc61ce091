package queue

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

var smtpRef = regexp.MustCompile(`452 4\.3\.1 [^\n]*\(ref ([A-Z2-7]+)\)`)

// The spool on a small tmpfs that fills up: the client gets 452 4.3.1 with
// a reference id (never a path), the log carries the same reference with
// the spool path and the fix, nothing accepted is lost, and mail is
// accepted again once space returns.
func TestQueueFullSpoolGives452LosesNothingAndRecovers(t *testing.T) {
	t.Parallel()
	e := harness.NewQueueEnv(t, "")
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", e.Spool).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs on the spool: %v: %s", err, out)
	}
	t.Cleanup(func() {
		e.Stop()
		exec.Command("umount", "-l", e.Spool).Run()
	})
	harness.Chown(t, e.Spool, e.User)
	// Keep mail in the spool: bob's tmp/ is root's until the fix.
	box := e.Maildir("bob")
	os.MkdirAll(filepath.Join(box, "tmp"), 0o755)
	harness.Chown(t, e.Mail, e.User)
	os.Chown(filepath.Join(box, "tmp"), 0, 0)
	e.Start()

	big := filepath.Join(e.Dir, "big.eml")
	harness.WriteMessage(t, big, "big", 1<<20)
	var acked []string
	var ref string
	for i := 0; i < 6 && ref == ""; i++ {
		r := e.Swaks("bob@example.test", big)
		if m := queuedAs.FindStringSubmatch(r.Stdout); m != nil {
			acked = append(acked, m[1])
			continue
		}
		m := smtpRef.FindStringSubmatch(r.Stdout)
		if m == nil {
			t.Fatalf("neither 250 nor 452 4.3.1 with a ref:\n%s%s", r.Stdout, r.Stderr)
		}
		ref = m[1]
		if strings.Contains(r.Stdout, e.Spool) {
			t.Errorf("the SMTP reply shows a local path:\n%s", r.Stdout)
		}
	}
	if ref == "" || len(acked) == 0 {
		t.Fatalf("accepted %d, no 452 with a ref", len(acked))
	}
	t.Logf("%d accepted, then 452 4.3.1 (ref %s)", len(acked), ref)
	// The log line with that reference names the spool, the errno and a fix.
	var logLine string
	for _, l := range strings.Split(e.Log(), "\n") {
		if strings.Contains(l, ref) && strings.Contains(l, "ENOSPC") {
			logLine = l
		}
	}
	if logLine == "" || !strings.Contains(logLine, e.Spool) || !strings.Contains(logLine, "df -h") {
		t.Fatalf("no log line with ref %s, the spool, ENOSPC and a fix:\n%s", ref, e.Log())
	}
	// Nothing accepted is lost, nothing half-written stays.
	_, q := e.Mailq()
	if q.Summary.Messages != len(acked) {
		t.Fatalf("mailq shows %d messages, %d were accepted", q.Summary.Messages, len(acked))
	}
	// One message file per accepted message (and the envelope of those
	// whose attempt was stored, <id>.state), nothing else.
	ents, _ := os.ReadDir(filepath.Join(e.Spool, "queue"))
	var names []string
	files := map[string]bool{}
	for _, en := range ents {
		names = append(names, en.Name())
		files[en.Name()] = true
	}
	missing := 0
	for _, id := range acked {
		if !files[id+".q"] {
			missing++
		}
		delete(files, id+".q")
		delete(files, id+".state")
	}
	if len(files) != 0 || missing > 0 {
		t.Fatalf("spool holds %v for the %d accepted messages %v", names, len(acked), acked)
	}

	// The fix; the queue drains and space returns; new mail is accepted.
	harness.Chown(t, box, e.User)
	if r := e.Ebb("queue", "flush", "-c", e.Conf); r.Code != 0 {
		t.Fatalf("flush: %d %s", r.Code, r.Stderr)
	}
	e.WaitFor("every accepted message delivered", func() bool { return len(e.Delivered("bob")) == len(acked) })
	r := e.Swaks("bob@example.test", big)
	if queuedAs.FindStringSubmatch(r.Stdout) == nil {
		t.Fatalf("not accepted after space returned:\n%s", r.Stdout)
	}
	e.WaitFor("the new message delivered", func() bool { return len(e.Delivered("bob")) == len(acked)+1 })
}
