package fetch

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// A POP3 account fetches exactly once by UIDL: over POP3S keeping the
// messages (incremental by UIDL), and over POP3 with STLS deleting them
// (DELE takes effect at QUIT, recorded only then).
func TestFetchPOP3ExactlyOnce(t *testing.T) {
	t.Parallel()
	e := newFetchEnv(t, map[string]string{"dave": "pw-d", "erin": "pw-e"}, "", false, "")
	e.Remote.Put(t, "dave", "INBOX", harness.RemoteMsgs(15, 1, "pop keep", 3000)...)
	e.add("pw-d", "pk", "--protocol", "pop3", "--server", e.Remote.POP3S, "--user", "dave", "--to", "alice@example.test", "--ca-file", e.Remote.CACert)
	if out := e.run("pk"); !strings.Contains(out.Stdout, "pk: 15 fetched") {
		t.Fatalf("first run: %s%s", out.Stdout, out.Stderr)
	}
	e.Remote.Put(t, "dave", "INBOX", harness.RemoteMsgs(5, 16, "pop keep", 3000)...)
	if out := e.run("pk"); !strings.Contains(out.Stdout, "pk: 5 fetched") {
		t.Fatalf("incremental run: %s", out.Stdout)
	}
	ids := e.localIDs("alice")
	if len(ids) != 20 || harness.DupCount(ids) != 0 || e.Remote.Count("dave", "INBOX") != 20 {
		t.Fatalf("keep: local %d distinct, %d duplicates, server %d; want 20, 0, 20", len(ids), harness.DupCount(ids), e.Remote.Count("dave", "INBOX"))
	}
	if m := e.Messages("alice")[0]; !strings.Contains(m, "ebb fetch account pk, user dave, uidl ") || !strings.Contains(m, "with POP3S id") {
		t.Fatalf("Received header:\n%.500s", m)
	}

	e.Remote.Put(t, "erin", "INBOX", harness.RemoteMsgs(12, 100, "pop delete", 1500)...)
	e.add("pw-e", "pd", "--protocol", "pop3", "--tls", "starttls", "--server", e.Remote.POP3, "--user", "erin", "--to", "bob@example.test",
		"--ca-file", e.Remote.CACert, "--after", "delete")
	if out := e.run("pd"); !strings.Contains(out.Stdout, "pd: 12 fetched, 0 already delivered, 12 removed") {
		t.Fatalf("delete run: %s%s", out.Stdout, out.Stderr)
	}
	if n := e.Remote.Count("erin", "INBOX"); n != 0 {
		t.Fatalf("%d left on the server after delete", n)
	}
	if ids := e.localIDs("bob"); len(ids) != 12 || harness.DupCount(ids) != 0 {
		t.Fatalf("bob: %d distinct, %d duplicates", len(ids), harness.DupCount(ids))
	}
	if !strings.Contains(e.Remote.Log(), "pop3(erin)") {
		t.Fatal("no POP3 session in the server's log")
	}
}

// Every failure shows its real cause, in ebb fetch run's output and in
// ebb fetch list: connection refused, a missing folder, login refused (the
// server's words; last, since Dovecot then slows logins from the address).
func TestFetchFailuresSayTheRealCause(t *testing.T) {
	t.Parallel()
	e := newFetchEnv(t, map[string]string{"alice": "pw-a"}, "", false, "")
	closed := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	cases := []struct {
		name, password string
		args           []string
		cause, words   string
	}{
		{"refused", "pw-a", []string{"refused", "--server", closed, "--user", "alice", "--to", "alice@example.test"}, "connect", "connection refused"},
		{"nofolder", "pw-a", e.imapsArgs("nofolder", "alice", "alice@example.test", "--folder", "Nope"), "folder", `select the folder "Nope"`},
		{"badpw", "wrong", e.imapsArgs("badpw", "alice", "alice@example.test"), "login", "the server refused the login: [AUTHENTICATIONFAILED] Authentication failed"},
		{"badpop", "wrong", []string{"badpop", "--protocol", "pop3", "--server", e.Remote.POP3S, "--user", "alice", "--to", "alice@example.test", "--ca-file", e.Remote.CACert},
			"login", "the server refused the login: [AUTH] Authentication failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.add(c.password, c.args...)
			r := e.fetch("run", c.name)
			if r.Code != 75 || !strings.Contains(r.Stderr, c.words) {
				t.Fatalf("exit %d; stderr does not say %q:\n%s", r.Code, c.words, r.Stderr)
			}
			// Every failure line names the account and the server.
			server := c.args[slices.Index(c.args, "--server")+1]
			if !strings.Contains(r.Stderr, "ebb fetch "+c.name) || !strings.Contains(r.Stderr, server) {
				t.Fatalf("stderr names neither the account %s nor the server %s:\n%s", c.name, server, r.Stderr)
			}
			l := e.listLine(c.name)
			if !strings.Contains(l, "FAILING ("+c.cause+", 1 in a row)") || !strings.Contains(l, c.words) {
				t.Fatalf("ebb fetch list: %s", l)
			}
		})
	}
	// A full local mailbox: nothing is fetched (it would only wait in the
	// queue), the message stays on the server, the cause is the quota.
	e.Remote.Put(t, "alice", "INBOX", harness.RemoteMsgs(1, 1, "quota", 500)...)
	if r := harness.Run(t, harness.AsUser(exec.Command(harness.Ebb(t), "deliver", "-c", e.Conf, "-d", "bob@example.test"), e.User),
		harness.TestMessage(9, "filler", 4000)); r.Code != 0 {
		t.Fatalf("ebb deliver: %d %s", r.Code, r.Stderr)
	}
	harness.EbbAs(t, e.User, nil, "user", "quota", "-c", e.Conf, "bob@example.test", "1K")
	e.add("pw-a", e.imapsArgs("full", "alice", "bob@example.test")...)
	if r := e.fetch("run", "full"); r.Code != 75 || !strings.Contains(r.Stderr, "quota") {
		t.Fatalf("full mailbox: exit %d\n%s", r.Code, r.Stderr)
	}
	if l := e.listLine("full"); !strings.Contains(l, "FAILING (quota, 1 in a row)") {
		t.Fatalf("fetch list: %s", l)
	}
	if e.Count("bob") != 1 || e.Remote.Count("alice", "INBOX") != 1 {
		t.Fatalf("bob has %d, the server %d; want 1 and 1", e.Count("bob"), e.Remote.Count("alice", "INBOX"))
	}

	// An account that keeps failing is reported by ebb doctor, with its
	// cause; a server that does not answer is found by the doctor itself.
	e.fetch("run", "badpw")
	e.fetch("run", "badpw")
	d := harness.Run(t, exec.Command(harness.Ebb(t), "doctor", "-c", e.Conf), nil)
	if d.Code == 0 || !strings.Contains(d.Stdout+d.Stderr, "fetch the account badpw (") || !strings.Contains(d.Stdout+d.Stderr, "3 attempts in a row failed") ||
		!strings.Contains(d.Stdout+d.Stderr, "connection refused") {
		t.Fatalf("ebb doctor: exit %d\n%s%s", d.Code, d.Stdout, d.Stderr)
	}
}
