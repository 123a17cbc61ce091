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

var replyRef = regexp.MustCompile(`<\*\* +([245][0-9][0-9] [^\n]*\(ref ([A-Z2-7]{8})\))`)

// Every ref a client gets opens its story in ebb explain (issue 21, 2):
// refusals at MAIL, RCPT and DATA, a verdict after DATA (which had a queue
// id), and our own trouble before any queue id existed (an unwritable
// spool). The text says the stage, the reply, and for what is not a plain
// policy answer the reason and the fix.
func TestExplainEveryRefAClientGets(t *testing.T) {
	t.Parallel()
	e := harness.NewQueueEnv(t, "")
	e.Start()
	harness.Install(t, "swaks")
	send := func(from, to, data string) (reply, ref string) {
		t.Helper()
		args := []string{"--server", e.SMTP, "--from", from, "--to", to, "--timeout", "60"}
		if data != "" {
			f := filepath.Join(e.Dir, "msg.eml")
			os.WriteFile(f, []byte(data), 0o644)
			args = append(args, "--data", "@"+f)
		}
		r := harness.Run(t, exec.Command("swaks", args...), nil)
		m := replyRef.FindStringSubmatch(r.Stdout)
		if r.Code == 0 || m == nil {
			t.Fatalf("swaks %s -> %s: exit %d, no refusal with a ref:\n%s", from, to, r.Code, r.Stdout)
		}
		return m[1], m[2]
	}
	explain := func(ref string, want ...string) string {
		t.Helper()
		r := e.Ebb("explain", "-c", e.Conf, ref)
		if r.Code != 0 {
			t.Fatalf("explain %s: exit %d\n%s%s", ref, r.Code, r.Stdout, r.Stderr)
		}
		for _, w := range want {
			if !strings.Contains(r.Stdout, w) {
				t.Errorf("explain %s lacks %q:\n%s", ref, w, r.Stdout)
			}
		}
		return r.Stdout
	}

	reply, ref := send("stranger@example.test", "bob@example.test", "")
	explain(ref, "ref "+ref+"  refused at MAIL from <stranger@example.test>", "replied "+reply)

	reply, ref = send("alice@example.org", "nobody@example.test", "")
	explain(strings.ToLower(ref), "refused at RCPT from <alice@example.org> for <nobody@example.test>; from 127.0.0.1", "replied "+reply)

	// A verdict after DATA: the message had a queue id; explain of the ref
	// and of that id tell the same story, with the reason.
	loop := "Delivered-To: bob@example.test\r\nFrom: alice@example.org\r\nSubject: loop\r\nMessage-ID: <loop1@example.org>\r\n\r\nagain\r\n"
	reply, ref = send("alice@example.org", "bob@example.test", loop)
	if !strings.HasPrefix(reply, "554 5.4.6") {
		t.Fatalf("loop refused with %s", reply)
	}
	out := explain(ref, "refused at DATA from <alice@example.org> for <bob@example.test>", "Message-ID <loop1@example.org>", "replied "+reply, "loop")
	id := strings.Fields(out)[2]
	if id == "ref" {
		t.Fatalf("the verdict's record has no queue id:\n%s", out)
	}
	byID := explain(id, "refused at DATA")
	if byID != out {
		t.Errorf("explain %s and explain %s differ:\n%s\n%s", ref, id, out, byID)
	}

	// Our trouble before a queue id: the spool is not writable.
	os.Chown(e.Spool, 0, 0)
	reply, ref = send("alice@example.org", "bob@example.test", "Subject: hi\r\n\r\nhi\r\n")
	if !strings.HasPrefix(reply, "451 4.3.0") {
		t.Fatalf("unwritable spool answered %s", reply)
	}
	out = explain(ref, "not queued (from <alice@example.org> for 1 recipient): ebb queue: cannot create a file in "+e.Spool+"/queue: permission denied",
		"Fix: run: chown "+e.User.Name+":"+e.User.Name+" "+e.Spool,
		"refused at DATA from <alice@example.org> for <bob@example.test>", "replied "+reply, "(the reason is above)")
	if n := strings.Count(out, "permission denied"); n != 1 {
		t.Errorf("the reason is told %d times, want once:\n%s", n, out)
	}
	// The log line that carries the ref names the same one.
	if !strings.Contains(e.Log(), ref) {
		t.Errorf("the log does not carry ref %s", ref)
	}
}
