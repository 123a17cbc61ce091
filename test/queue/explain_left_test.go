package queue

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// A message the client leaves — a BDAT transfer ended without LAST (RSET),
// a connection closed in the middle of a chunk — gets no reply, but its
// log line carries a ref: ebb explain REF tells how the client left and
// that nothing was accepted, not a refusal nobody read.
func TestExplainAMessageTheClientLeft(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnv(t, "")
	c := harness.DialSMTP(t, "", e.SMTP, false)
	c.Must(250, "EHLO client.example")
	c.Must(250, "MAIL FROM:<s@example.org>")
	c.Must(250, "RCPT TO:<boss@example.test>")
	c.Must(250, "BDAT 12\r\nSubject: x") // the chunk is "Subject: x" CRLF
	c.Must(250, "RSET")
	c.Must(250, "MAIL FROM:<s@example.org>")
	c.Must(250, "RCPT TO:<boss@example.test>")
	fmt.Fprintf(c.Conn, "BDAT 100 LAST\r\nFrom: s@example.org\r\n")
	c.Conn.Close()

	harness.WaitLogFile(t, e.LogFile(), `msg="smtp message abandoned by the client"`, 2, 60*time.Second)
	refs := regexp.MustCompile(`msg="smtp message abandoned by the client".* ref=([A-Z2-7]{8})`).FindAllStringSubmatch(e.Log(), -1)
	if len(refs) != 2 {
		t.Fatalf("%d abandoned messages with a ref in the log, want 2:\n%s", len(refs), e.Log())
	}
	for i, how := range []string{
		"the client ended the BDAT transfer without a LAST chunk, after 12 B of it; nothing was accepted",
		"the client closed the connection in the middle of the message, after 21 B of it; nothing was accepted",
	} {
		ref := refs[i][1]
		x := e.EbbAsDaemon(nil, "explain", "-c", e.Conf, ref)
		if x.Code != 0 {
			t.Fatalf("ebb explain %s: exit %d\n%s%s", ref, x.Code, x.Stdout, x.Stderr)
		}
		for _, w := range []string{"ref " + ref, "not received: the client left during the message from <s@example.org> for <boss@example.test>", how} {
			if !strings.Contains(x.Stdout, w) {
				t.Errorf("ebb explain %s lacks %q:\n%s", ref, w, x.Stdout)
			}
		}
		if strings.Contains(x.Stdout, "replied") {
			t.Errorf("ebb explain %s tells of a reply the client never got:\n%s", ref, x.Stdout)
		}
	}
	if n := e.MailCount("boss"); n != 0 {
		t.Errorf("boss has %d messages, want none", n)
	}
}

// AUTH that our own trouble keeps from being checked (the directory's
// PostgreSQL is down) is answered 454 4.7.0 with a ref; ebb explain REF
// tells the login, the account it tried and why.
func TestExplainALoginOurTroubleRefused(t *testing.T) {
	t.Parallel()
	pg := harness.StartPostgres(t)
	sub := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	e := harness.NewServeEnv(t, harness.ServeOpts{TLS: true, Extra: fmt.Sprintf(
		"[directory]\ndsn = %q\nshared_state = false\nargon2_memory = \"16M\"\n[submission]\nlisten = [%q]\n", pg.NewDatabase(t), sub)})
	e.EbbAs(t, []byte("alice-pw\n"), "user", "passwd", "-c", e.Conf, "alice@example.test")
	c := harness.DialSMTP(t, "", sub, false)
	c.StartTLS()
	if code, msg := c.AuthPlain("alice@example.test", "alice-pw"); code != 235 {
		t.Fatalf("AUTH with the directory up: %d %s", code, msg)
	}
	pg.Stop(t)
	c = harness.DialSMTP(t, "", sub, false)
	c.StartTLS()
	code, msg := c.AuthPlain("alice@example.test", "alice-pw")
	m := regexp.MustCompile(`\(ref ([A-Z2-7]{8})\)$`).FindStringSubmatch(msg)
	if code != 454 || !strings.HasPrefix(msg, "4.7.0 Temporary authentication failure") || m == nil {
		t.Fatalf("AUTH with the directory down: %d %s", code, msg)
	}
	x := e.EbbAs(t, nil, "explain", "-c", e.Conf, m[1])
	for _, w := range []string{"ref " + m[1], "login refused at AUTH for <alice@example.test>; from 127.0.0.1", "replied 454 4.7.0 Temporary authentication failure"} {
		if !strings.Contains(x.Stdout, w) {
			t.Errorf("ebb explain %s lacks %q:\n%s%s", m[1], w, x.Stdout, x.Stderr)
		}
	}
	if strings.Contains(x.Stdout, "authenticated as") {
		t.Errorf("ebb explain %s calls the failed login authenticated:\n%s", m[1], x.Stdout)
	}
}
