package queue

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

var replyRef = regexp.MustCompile(`<\*\* +([245][0-9][0-9] [^\n]*\(ref ([A-Z2-7]{8})\))`)

// Every ref a client gets opens its story in ebb explain (issue 21, 2):
// refusals at MAIL, RCPT and DATA, a verdict after DATA (which had a queue
// id), and our own trouble before any queue id existed (an unwritable
// spool). The text says the stage, the reply, and for what is not a plain
// policy answer the reason and the fix. So do the replies that close the
// connection or that the engine makes on its own: the command and data
// timeouts, too many unrecognised commands, a recipient over
// smtp.max_recipients, a connection over smtp.max_connections_per_ip, and
// the 421 of a shutdown.
func TestExplainEveryRefAClientGets(t *testing.T) {
	t.Parallel()
	e := harness.NewQueueEnv(t, "")
	for k, v := range map[string]string{"smtp.command_timeout": `"6s"`, "smtp.data_timeout": `"6s"`,
		"smtp.max_recipients": "2", "smtp.max_connections_per_ip": "1"} {
		harness.SetTOML(t, e.Conf, k, v)
	}
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

	// The replies the engine makes on its own, each with a ref explained.
	refIn := func(what, reply, want string) string {
		t.Helper()
		m := regexp.MustCompile(`^` + regexp.QuoteMeta(want) + `.* \(ref ([A-Z2-7]{8})\)\r\n$`).FindStringSubmatch(reply)
		if m == nil {
			t.Fatalf("%s: %q, want %q … (ref X)", what, reply, want)
		}
		return m[1]
	}
	dial := func() *harness.SmtpConn {
		t.Helper()
		c, err := harness.ServeDial(e.SMTP)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := dial()
	// A second connection from the address while this one is open.
	over, err := net.DialTimeout("tcp", e.SMTP, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	over.SetDeadline(time.Now().Add(30 * time.Second))
	greet, _ := bufio.NewReader(over).ReadString('\n')
	over.Close()
	explain(refIn("a second connection with smtp.max_connections_per_ip = 1", greet, "421 4.7.0 mx.example.test Too many connections from your address"),
		"connection closed by ebb; from 127.0.0.1 on the inbound listener; replied 421 4.7.0", "smtp.max_connections_per_ip")
	// That one then idles past smtp.command_timeout.
	r, _ := c.Reply()
	explain(refIn("idle", r, "421 4.4.2 mx.example.test Timeout waiting for the client, closing connection"),
		"connection closed by ebb; from 127.0.0.1", "no complete command within 6s (smtp.command_timeout)")

	c = dial()
	c.Cmd("EHLO client.example.org")
	c.Cmd("MAIL FROM:<alice@example.org>")
	c.Cmd("RCPT TO:<bob@example.test>")
	c.Cmd("RCPT TO:<carol@example.test>")
	explain(refIn("a third recipient", c.Cmd("RCPT TO:<bob@example.test>"), "452 4.5.3 Too many recipients"),
		"refused at RCPT from <alice@example.org> for <bob@example.test>", "smtp.max_recipients")
	if r := c.Cmd("DATA"); !strings.HasPrefix(r, "354") {
		t.Fatalf("DATA: %q", r)
	}
	fmt.Fprintf(c.W, "From: alice@example.org\r\nSubject: slow\r\n\r\nhalf a body")
	r, _ = c.Reply()
	explain(refIn("data timeout", r, "421 4.4.2 mx.example.test Timeout waiting for the client, closing connection"),
		"refused at DATA from <alice@example.org> for <bob@example.test>, <carol@example.test>",
		"the client sent nothing more within the data timeout (smtp.data_timeout)")

	c = dial()
	for i := 0; i < 3; i++ {
		c.Cmd("GET / HTTP/1.1")
	}
	if r := c.Cmd("Host: example.test"); !strings.HasPrefix(r, "500 5.5.2") {
		t.Fatalf("a fourth line that is no command: %q", r)
	}
	r, _ = c.Reply()
	explain(refIn("not SMTP", r, "421 4.7.0 mx.example.test Too many unrecognized commands"),
		"connection closed by ebb", "too many commands that are none")

	// Our trouble before a queue id: the spool is not writable.
	os.Chown(e.Spool, 0, 0)
	reply, ref = send("alice@example.org", "bob@example.test", "Subject: hi\r\n\r\nhi\r\n")
	if !strings.HasPrefix(reply, "451 4.3.0") {
		t.Fatalf("unwritable spool answered %s", reply)
	}
	out = explain(ref, "refused at DATA from <alice@example.org> for <bob@example.test>", "replied "+reply,
		"ebb queue: cannot create a file in "+e.Spool+"/queue: permission denied",
		"Fix: run: chown "+e.User.Name+":"+e.User.Name+" "+e.Spool)
	if n := strings.Count(out, "permission denied"); n != 1 {
		t.Errorf("the reason is told %d times, want once:\n%s", n, out)
	}
	// More messages while the spool stays broken share the first's ref
	// (the journal's bound): the queue writes no record of its own for
	// them under a ref no client was given (checked after the stop).
	for i := 0; i < 2; i++ {
		if r2, ref2 := send("alice@example.org", "bob@example.test", "Subject: again\r\n\r\nhi\r\n"); ref2 != ref || !strings.HasPrefix(r2, "451 4.3.0") {
			t.Errorf("message %d to the broken spool: %s, want 451 with the first's ref %s", i+2, r2, ref)
		}
	}
	spoolRef := ref
	// The log line that carries the ref names the same one.
	if !strings.Contains(e.Log(), ref) {
		t.Errorf("the log does not carry ref %s", ref)
	}

	// ebb serve stops: an idle client is told so, with a ref.
	c = dial()
	e.Stop() // waits for ebb serve to end: the reply is in the socket
	r, _ = c.Reply()
	explain(refIn("shutdown", r, "421 4.3.2 mx.example.test Service shutting down, try again later"),
		"connection closed by ebb; from 127.0.0.1", "ebb serve is stopping")

	// The broken spool's three messages: one ref, one record of the
	// trouble (the refusal) and its count; no record under another ref.
	explain(spoolRef, "refused 3 times in all under this ref")
	files, _ := filepath.Glob(filepath.Join(e.Dir, "data", "journal", "*.jsonl"))
	var told int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.Contains(l, e.Spool+"/queue") {
				continue
			}
			var rec struct {
				Event string `json:"ev"`
				Ref   string `json:"ref"`
			}
			json.Unmarshal([]byte(l), &rec)
			if rec.Ref != spoolRef {
				t.Errorf("a journal record of the broken spool under ref %q, which no client was given (they got %s): %s", rec.Ref, spoolRef, l)
			}
			told++
		}
	}
	if told != 1 {
		t.Errorf("%d journal records tell the broken spool's trouble, want 1 (the refusal; the others are counted)", told)
	}
}
