package smtp

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// A mail client's setup: port 587, STARTTLS, then AUTH; and 465 with
// implicit TLS (RFC 8314). swaks plays the mail client.
func TestSubmissionWithSwaks(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnv(t, "")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
	}{
		{"STARTTLS then AUTH PLAIN, to a local user",
			[]string{"--server", e.Sub, "--tls", "--auth", "PLAIN", "--auth-user", "demo@example.test", "--auth-password", harness.DemoPass,
				"--from", "demo@example.test", "--to", "boss@example.test", "--h-Subject", "via 587"},
			0, []string{"235 2.7.0", "250 2.0.0 Ok: queued as"}},
		{"STARTTLS then AUTH LOGIN, to a remote domain (queued for relay)",
			[]string{"--server", e.Sub, "--tls", "--auth", "LOGIN", "--auth-user", "demo@example.test", "--auth-password", harness.DemoPass,
				"--from", "demo@example.test", "--to", "friend@remote.example"},
			0, []string{"235 2.7.0", "Ok: queued as"}},
		{"implicit TLS on 465",
			[]string{"--server", e.SubTLS, "--tlsc", "--auth", "PLAIN", "--auth-user", "demo@example.test", "--auth-password", harness.DemoPass,
				"--from", "demo@example.test", "--to", "boss@example.test", "--h-Subject", "via 465"},
			0, []string{"235 2.7.0", "Ok: queued as"}},
		{"an alias that leads to the user is theirs",
			[]string{"--server", e.Sub, "--tls", "--auth", "PLAIN", "--auth-user", "demo@example.test", "--auth-password", harness.DemoPass,
				"--from", "info@example.test", "--to", "boss@example.test", "--h-Subject", "as info"},
			0, []string{"Ok: queued as"}},
		{"wrong password: 535 5.7.8",
			[]string{"--server", e.Sub, "--tls", "--auth", "PLAIN", "--auth-user", "demo@example.test", "--auth-password", "wrong",
				"--from", "demo@example.test", "--to", "boss@example.test"},
			28, []string{"535 5.7.8"}},
		{"no AUTH is offered before STARTTLS",
			[]string{"--server", e.Sub, "--auth", "PLAIN", "--auth-user", "demo@example.test", "--auth-password", harness.DemoPass,
				"--from", "demo@example.test", "--to", "boss@example.test"},
			28, []string{"Host did not advertise authentication"}},
		{"sending as someone else: 553 5.7.1 names the address",
			[]string{"--server", e.Sub, "--tls", "--auth", "PLAIN", "--auth-user", "demo@example.test", "--auth-password", harness.DemoPass,
				"--from", "boss@example.test", "--to", "boss@example.test"},
			23, []string{"553 5.7.1 <boss@example.test> is not an address of demo@example.test"}},
		{"no AUTH, untrusted client: 530 at MAIL",
			[]string{"--server", e.Sub, "--local-interface", "127.0.0.2", "--tls",
				"--from", "demo@example.test", "--to", "boss@example.test"},
			23, []string{"530 5.7.0 Authentication required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := harness.RunSwaks(t, tc.args...)
			out := r.Stdout + r.Stderr
			if r.Code != tc.wantCode {
				t.Errorf("swaks exit %d, want %d\n%s", r.Code, tc.wantCode, out)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("want %q in:\n%s", w, out)
				}
			}
		})
	}
	// Delivered: 587, 465 and the one sent as info@ reached boss.
	msgs := e.WaitMail("boss", 3)
	subjects := strings.Join(msgs, "\n")
	for _, s := range []string{"Subject: via 587", "Subject: via 465", "Subject: as info"} {
		if !strings.Contains(subjects, s) {
			t.Errorf("boss did not get %q", s)
		}
	}
	if !strings.Contains(subjects, "with ESMTPSA") {
		t.Errorf("Received does not say ESMTPSA:\n%s", msgs[0])
	}
	// The remote one waits with the reason.
	if !harness.WaitOn(10*time.Second, func() bool { return strings.Contains(e.Mailq(), "MX lookup of remote.example") }, harness.QueueDir(e.Spool)) {
		t.Fatalf("mailq does not show the remote recipient deferred:\n%s", e.Mailq())
	}
	if q := e.Mailq(); !strings.Contains(q, "friend@remote.example") {
		t.Errorf("mailq:\n%s", q)
	}
	if !strings.Contains(e.Log(), `msg="smtp auth failed"`) || !strings.Contains(e.Log(), "remote=127.0.0.1 account=demo@example.test") {
		t.Errorf("failed login not logged with IP and account:\n%s", e.Log())
	}
}

// AUTH sent anyway before TLS, on the wire: 523 5.7.10 (RFC 5248:
// encryption needed).
func TestSubmissionAuthBeforeTLSRefused(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnv(t, "")
	c := harness.DialSMTP(t, "", e.Sub, false)
	ehlo := c.Must(250, "EHLO client.example")
	if strings.Contains(ehlo, "AUTH") {
		t.Errorf("AUTH offered before STARTTLS:\n%s", ehlo)
	}
	if code, msg := c.AuthPlain("demo@example.test", harness.DemoPass); code != 523 || !strings.Contains(msg, "TLS is required") {
		t.Errorf("AUTH before TLS: %d %s, want 523 5.7.10 TLS is required", code, msg)
	}
	// A stranger (127.0.0.2 is not in trusted_networks) must log in first.
	s := harness.DialSMTP(t, "127.0.0.2", e.Sub, false)
	s.StartTLS()
	if code, msg := s.Cmd("MAIL FROM:<demo@example.test>"); code != 530 {
		t.Errorf("MAIL without AUTH from a stranger: %d %s, want 530", code, msg)
	}
}

// A guesser is slowed, then refused; the owner logging in from another
// address still gets in.
func TestSubmissionBruteForce(t *testing.T) {
	// Not t.Parallel: it compares answer times: alone.
	start := time.Now()
	e := harness.NewSubEnv(t, "auth_failures_before_delay = 2\nauth_max_failures_per_ip = 6\n")
	t.Logf("started in %v", time.Since(start))
	var took []time.Duration
	var codes []int
	for i := 0; i < 8; i++ {
		c := harness.DialSMTP(t, "127.0.0.1", e.Sub, false)
		c.StartTLS()
		start := time.Now()
		code, _ := c.AuthPlain("demo@example.test", "guess"+string(rune('a'+i)))
		took = append(took, time.Since(start))
		codes = append(codes, code)
		c.Conn.Close()
	}
	t.Logf("codes %v, times %v", codes, took)
	for i, code := range codes {
		want := 535
		if i >= 6 {
			want = 454
		}
		if code != want {
			t.Errorf("attempt %d: %d, want %d", i+1, code, want)
		}
	}
	// Failures past the 2nd wait 300ms × (n−2) before their answer.
	for i, min := range map[int]time.Duration{2: 300 * time.Millisecond, 5: 1200 * time.Millisecond} {
		if took[i] < min {
			t.Errorf("failure %d answered after %v, want at least %v", i+1, took[i], min)
		}
	}
	// Refused without checking the password: fast.
	if took[7] > took[5] {
		t.Errorf("refusal slower than a failure: %v", took[7])
	}
	// The owner from 127.0.0.2.
	c := harness.DialSMTP(t, "127.0.0.2", e.Sub, false)
	c.StartTLS()
	if code, msg := c.AuthPlain("demo@example.test", harness.DemoPass); code != 235 {
		t.Fatalf("good login from another IP: %d %s", code, msg)
	}
	// The right password from the refused IP is refused too.
	c2 := harness.DialSMTP(t, "127.0.0.1", e.Sub, false)
	c2.StartTLS()
	if code, _ := c2.AuthPlain("demo@example.test", harness.DemoPass); code != 454 {
		t.Errorf("refused IP with the right password: %d, want 454", code)
	}
	log := e.Log()
	for _, w := range []string{`msg="smtp auth failed"`, "remote=127.0.0.1", "account=demo@example.test", `msg="smtp auth refused"`} {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %q", w)
		}
	}
}

// A slow client (slowloris) that trickles a command one byte at a time,
// each byte within the command timeout, is cut off once the line has
// taken the timeout; one that sends whole lines is cut off at
// submission.max_session_time.
func TestSubmissionSlowClient(t *testing.T) {
	// Not t.Parallel: it bounds how long a slow client is kept: alone.
	e := harness.NewSubEnvWith(t, `max_session_time = "4s"`, `command_timeout = "1s"`)
	trickle := func(addr string, chunk string, every time.Duration) time.Duration {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		closed := make(chan struct{})
		go func() {
			io.Copy(io.Discard, c)
			close(closed)
		}()
		for {
			select {
			case <-closed:
				return time.Since(start)
			case <-time.After(every):
			}
			if time.Since(start) > 15*time.Second {
				t.Fatalf("%s: still connected after 15s", addr)
			}
			c.Write([]byte(chunk))
		}
	}
	if d := trickle(e.Sub, "E", 300*time.Millisecond); d > 3*time.Second {
		t.Errorf("a byte every 300ms held the connection for %v; the command timeout is 1s", d)
	}
	if d := trickle(e.Sub, "NOOP\r\n", 300*time.Millisecond); d < 3*time.Second || d > 7*time.Second {
		t.Errorf("whole lines: cut off after %v, want about max_session_time (4s)", d)
	}
}

// submission.max_messages_per_ip and max_messages_per_account bound what one
// client or one (perhaps stolen) password can send in an hour.
func TestSubmissionMessageRate(t *testing.T) {
	// Not t.Parallel: its limit is a rate over time: alone.
	e := harness.NewSubEnv(t, "max_messages_per_ip = 2\nmax_messages_per_account = 3\n")
	send := func(c *harness.RawSMTP) int {
		c.Cmd("RSET")
		code, _ := c.Cmd("MAIL FROM:<demo@example.test>")
		return code
	}
	a := harness.DialSMTP(t, "127.0.0.2", e.Sub, false)
	a.StartTLS()
	a.AuthPlain("demo@example.test", harness.DemoPass)
	if c1, c2, c3 := send(a), send(a), send(a); c1 != 250 || c2 != 250 || c3 != 450 {
		t.Errorf("per IP: %d %d %d, want 250 250 450", c1, c2, c3)
	}
	b := harness.DialSMTP(t, "127.0.0.3", e.Sub, false)
	b.StartTLS()
	b.AuthPlain("demo@example.test", harness.DemoPass)
	if c1, c2 := send(b), send(b); c1 != 250 || c2 != 450 {
		t.Errorf("per account from another IP: %d %d, want 250 450 (3 per account)", c1, c2)
	}
}
