package smtp

import (
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Real clients against ebb serve: swaks in plain text and with STARTTLS,
// Postfix's smtp-source under load; Dovecot reads what was delivered.
func TestServeRealClientsAndDovecotReads(t *testing.T) {
	t.Parallel()
	e := harness.NewServeEnv(t, harness.ServeOpts{TLS: true})
	cases := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"plain ESMTP to a mailbox", []string{"--to", "alice@example.test", "--h-Subject", "plain"}, 0, "250 2.0.0 Ok: queued as"},
		{"STARTTLS to a mailbox", []string{"--tls", "--to", "alice@example.test", "--h-Subject", "starttls"}, 0, "250 2.0.0 Ok: queued as"},
		{"an unknown user is refused at RCPT", []string{"--to", "nobody@example.test"}, 24, "550 5.1.1"},
		{"another domain is relay and refused", []string{"--to", "someone@example.org"}, 24, "554 5.7.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := harness.Swaks(t, append([]string{"--server", e.SMTP, "--from", "sender@example.org",
				"--ehlo", "client.example.org"}, tc.args...)...)
			if r.Code != tc.wantCode || !strings.Contains(r.Stdout+r.Stderr, tc.want) {
				t.Errorf("swaks exit %d, want %d with %q:\n%s%s", r.Code, tc.wantCode, tc.want, r.Stdout, r.Stderr)
			}
		})
	}

	src := harness.SMTPSource{Addr: e.SMTP, Messages: 300, Sessions: 10, Size: 2048,
		From: "load@example.org", To: "bob@example.test"}
	if r := src.Run(t); r.Code != 0 {
		t.Fatalf("%s: exit %d: %s%s", src, r.Code, r.Stdout, r.Stderr)
	}
	e.WaitCount("alice", 2, 15*time.Second)
	e.WaitCount("bob", 300, 30*time.Second)

	d := harness.StartDovecot(t, e.User, []harness.DovecotUser{
		{Name: "alice@example.test", Password: "pw", Home: filepath.Join(e.Dir, "mail", "example.test", "alice")},
		{Name: "bob@example.test", Password: "pw", Home: filepath.Join(e.Dir, "mail", "example.test", "bob")},
	})
	alice := harness.DialIMAP(t, d.Addr, "alice@example.test", "pw")
	got, err := alice.FetchAll("INBOX")
	if err != nil {
		t.Fatalf("Dovecot FETCH: %v\n%s", err, d.Log())
	}
	if len(got) != 2 {
		t.Fatalf("Dovecot shows alice %d messages, want 2", len(got))
	}
	var sawTLS bool
	for _, m := range got {
		body := string(m.Body)
		if m.Size != len(m.Body) {
			t.Errorf("RFC822.SIZE %d but the body has %d octets (the S= of the file name must be exact)", m.Size, len(m.Body))
		}
		if !strings.Contains(body, "Received: from client.example.org ([127.0.0.1])\r\n\tby mx.example.test (ebb) with ESMTP") {
			t.Errorf("no Received header of ours:\n%s", body)
		}
		if strings.Contains(body, "with ESMTPS id") && strings.Contains(body, "Subject: starttls") {
			sawTLS = true
		}
	}
	if !sawTLS {
		t.Errorf("the STARTTLS message's Received header does not say ESMTPS")
	}
	bob := harness.DialIMAP(t, d.Addr, "bob@example.test", "pw")
	resp, err := bob.Cmd("SELECT INBOX")
	if err != nil {
		t.Fatal(err)
	}
	var exists string
	for _, r := range resp {
		if strings.HasSuffix(r.Line, " EXISTS") {
			exists = r.Line
		}
	}
	if exists != "* 300 EXISTS" {
		t.Errorf("Dovecot: bob's INBOX %q, want * 300 EXISTS", exists)
	}
}

// Logs say which connection and which message every line is about; the
// metrics endpoint counts sessions, replies by code, the queue and the
// deliveries.
func TestServeLogsAndMetrics(t *testing.T) {
	t.Parallel()
	e := harness.NewServeEnv(t, harness.ServeOpts{})
	before := e.Scrape()
	harness.Swaks(t, "--server", e.SMTP, "--from", "s@example.org", "--to", "alice@example.test")
	harness.Swaks(t, "--server", e.SMTP, "--from", "s@example.org", "--to", "nobody@example.test")
	e.WaitCount("alice", 1, 10*time.Second)
	harness.WaitLogFile(t, e.LogPath, "msg=removed ", 1, 10*time.Second) // the delivery is counted

	log := e.Log()
	accepted := regexp.MustCompile(`msg="smtp message accepted" conn=(\w+) queue_id=(\w+)`).FindStringSubmatch(log)
	if accepted == nil {
		t.Fatalf("no accepted line with conn and queue_id:\n%s", log)
	}
	for _, want := range []string{
		`msg="smtp connect" conn=` + accepted[1],
		`msg="smtp rcpt refused" conn=`,
		`queue_id=` + accepted[2] + ` rcpt=alice@example.test route=local outcome=delivered`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	after := e.Scrape()
	for _, c := range []struct {
		series string
		delta  float64
	}{
		{`ebb_smtp_sessions_total{listener="inbound"}`, 2},
		{`ebb_smtp_replies_total{code="220"}`, 2},
		{`ebb_smtp_replies_total{code="550"}`, 1},
		{`ebb_smtp_replies_total{code="221"}`, 2},
		{`ebb_smtp_messages_total{outcome="accepted"}`, 1},
		{`ebb_deliveries_total{outcome="delivered"}`, 1},
		{`ebb_queue_received_total`, 1},
	} {
		if d := metricValue(after, c.series) - metricValue(before, c.series); d != c.delta {
			t.Errorf("%s grew by %v, want %v:\n%s", c.series, d, c.delta, harness.GrepLines(after, "ebb_"))
		}
	}
	if !strings.Contains(after, `ebb_queue_depth{state="deferred"} 0`) {
		t.Errorf("no queue depth by state:\n%s", harness.GrepLines(after, "ebb_queue"))
	}
}

// metricValue is the value of one series in a Prometheus text page (0 when
// absent).
func metricValue(page, series string) float64 {
	for _, l := range strings.Split(page, "\n") {
		if rest, ok := strings.CutPrefix(l, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return 0
}

func TestServeLogsJSONWhenAsked(t *testing.T) {
	t.Parallel()
	e := harness.NewServeEnv(t, harness.ServeOpts{Extra: "[log]\nformat = \"json\"\n"})
	harness.Swaks(t, "--server", e.SMTP, "--from", "s@example.org", "--to", "alice@example.test")
	e.WaitCount("alice", 1, 10*time.Second)
	if !regexp.MustCompile(`\{"time":"[^"]+","level":"INFO","msg":"smtp message accepted","conn":"\w+","queue_id":"\w+"`).MatchString(e.Log()) {
		t.Errorf("no JSON line for the accepted message:\n%s", e.Log())
	}
}

// SIGHUP reloads the certificate (a renewed one is served without a
// restart); SIGTERM lets a message being received finish with its 250, then
// the daemon exits 0 and the message is delivered after the restart.
func TestServeSignals(t *testing.T) {
	t.Parallel()
	e := harness.NewServeEnv(t, harness.ServeOpts{TLS: true})

	serial := func() int64 {
		t.Helper()
		c, err := harness.ServeDial(e.SMTP)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Cmd("EHLO c")
		if r := c.Cmd("STARTTLS"); !strings.HasPrefix(r, "220") {
			t.Fatalf("STARTTLS: %q", r)
		}
		tc := tls.Client(c.C, &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		return tc.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if s := serial(); s != 1 {
		t.Fatalf("first certificate serial %d, want 1", s)
	}
	harness.ServeCert(t, e.Dir, "mx.example.test", 2)
	e.Signal(syscall.SIGHUP)
	// The daemon says so once the new certificate is in use.
	harness.WaitLogFile(t, e.LogPath, "reload: TLS certificate loaded", 1, 10*time.Second)
	if s := serial(); s != 2 {
		t.Fatalf("after SIGHUP the old certificate (serial %d) is still served; log:\n%s", s, harness.Tail(e.Log(), 20))
	}

	c, err := harness.ServeDial(e.SMTP)
	if err != nil {
		t.Fatal(err)
	}
	c.Cmd("EHLO c")
	c.Cmd("MAIL FROM:<s@example.org>")
	c.Cmd("RCPT TO:<bob@example.test>")
	if r := c.Cmd("DATA"); !strings.HasPrefix(r, "354") {
		t.Fatalf("DATA: %q", r)
	}
	fmt.Fprintf(c.W, "From: s@example.org\r\nSubject: in flight\r\n\r\nfirst half\r\n")
	srv := e.Srv
	e.Signal(syscall.SIGTERM)
	harness.WaitFor(t, "the listener to close after SIGTERM", 10*time.Second, func() bool {
		c, err := harness.ServeDial(e.SMTP)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	fmt.Fprintf(c.W, "second half\r\n.\r\n")
	if r, _ := c.Reply(); !strings.HasPrefix(r, "250") {
		t.Errorf("the message in flight at SIGTERM got %q, want 250", r)
	}
	select {
	case <-srv.Exited():
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit after SIGTERM")
	}
	if code := srv.ExitCode(); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0; log:\n%s", code, harness.Tail(e.Log(), 20))
	}
	e.Srv = nil
	e.Start()
	e.WaitCount("bob", 1, 10*time.Second)
}

// The README's run command: `ebb serve --demo` in an empty directory, then
// swaks, and the message is in the Maildir the banner names, at once. As an
// ordinary user on the README's port, and as root on another one
// (--demo-listen, for a machine where 2525 is taken).
func TestServeDemo(t *testing.T) {
	// It listens on the README's fixed port 127.0.0.1:2525, claimed
	// across test processes: another run of it waits its turn.
	t.Parallel()
	for _, asRoot := range []bool{false, true} {
		t.Run(fmt.Sprintf("root=%v", asRoot), func(t *testing.T) {
			dir := harness.Dir(t)
			addr := "127.0.0.1:2525"
			args := []string{"serve", "--demo"}
			if !asRoot {
				harness.ClaimFixedPort(t, 2525)
			} else {
				addr = fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
				args = append(args, "--demo-listen", addr)
			}
			cmd := exec.Command(harness.Ebb(t), args...)
			cmd.Dir = dir
			if !asRoot {
				u := harness.Unprivileged(t)
				os.Chown(dir, u.UID, u.GID)
				harness.AsUser(cmd, u)
			}
			// The demo's config asks the system's resolver (the
			// sender's DMARC record): here a test server, not the host's.
			cmd = harness.WithEmptySystemResolver(t, cmd)
			var out, errb strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &errb
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cmd.Process.Signal(syscall.SIGTERM)
				cmd.Wait()
			}()
			harness.WaitTCP(t, addr, "220", 15*time.Second)
			r := harness.Swaks(t, "--server", addr, "--to", "demo@example.test")
			if r.Code != 0 {
				t.Fatalf("swaks exit %d:\n%s\nserve:\n%s", r.Code, r.Stdout, errb.String())
			}
			newDir := filepath.Join(dir, "ebb-demo", "mail", "example.test", "demo", "Maildir", "new")
			if !harness.WaitFiles(newDir, 1, 30*time.Second) {
				t.Fatalf("nothing in %s; serve:\n%s", newDir, errb.String())
			}
			t.Logf("demo start to delivered: %s", time.Since(start).Round(time.Millisecond))
			for _, want := range []string{"swaks --server " + addr + " --to demo@example.test",
				"ebb-demo/mail/example.test/demo/Maildir/new/", "mutt -f", "ebb mailq -c ebb-demo/ebb.toml"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the banner lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// An alias that leads to a remote address: the local part is delivered, and
// a copy waits in the queue for the remote one, with a reason that says
// why (here: the remote domain's DNS answers SERVFAIL).
func TestServeAliasToRemoteWaitsWithAReason(t *testing.T) {
	t.Parallel()
	e := harness.NewServeEnv(t, harness.ServeOpts{})
	e.EbbAsUser("alias", "add", "-c", e.Conf, "team@example.test", "alice@example.test", "friend@remote.example")
	if r := harness.Swaks(t, "--server", e.SMTP, "--from", "s@example.org", "--to", "team@example.test"); r.Code != 0 {
		t.Fatalf("swaks exit %d:\n%s", r.Code, r.Stdout)
	}
	e.WaitCount("alice", 1, 10*time.Second)
	var r harness.Result
	if !harness.WaitOn(10*time.Second, func() bool {
		r = harness.Run(t, exec.Command(harness.Ebb(t), "mailq", "-c", e.Conf), nil)
		return strings.Contains(r.Stdout, "friend@remote.example") && strings.Contains(r.Stdout, "MX lookup of remote.example")
	}, harness.QueueDir(e.Spool)) {
		t.Fatalf("mailq does not show the forward waiting with its reason:\n%s%s\nlog:\n%s", r.Stdout, r.Stderr, harness.Tail(e.Log(), 20))
	}
	if !regexp.MustCompile(`msg=delivered component=deliver queue_id=\w+ mailbox=alice@example.test`).MatchString(e.Log()) {
		t.Errorf("the delivery line does not carry the queue id:\n%s", harness.Tail(e.Log(), 20))
	}
}

// A second ebb serve with the same config finds its ports taken; it says
// that the spool is held, and by which pid, not just "address in use".
func TestServeSecondInstanceOnTheSamePortsNamesTheHolder(t *testing.T) {
	t.Parallel()
	e := harness.NewServeEnv(t, harness.ServeOpts{})
	r := harness.Run(t, exec.Command(harness.Ebb(t), "serve", "-c", e.Conf), nil)
	want := fmt.Sprintf("cannot lock the spool with %s: held by pid %d", filepath.Join(e.Spool, "lock"), e.Srv.Pid())
	if r.Code == 0 || !strings.Contains(r.Stderr, want) || !strings.Contains(r.Stderr, e.SMTP+" is in use") {
		t.Errorf("second ebb serve: exit %d, stderr:\n%s\nwant %q and the address in use", r.Code, r.Stderr, want)
	}
}
