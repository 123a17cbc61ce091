package smtp

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// header returns the value of the first header field name in msg.
func mailHeader(msg, name string) string {
	head, _, _ := strings.Cut(msg, "\n\n")
	for _, l := range strings.Split(head, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// The callers of /usr/sbin/sendmail on a real host, as an ordinary user,
// first with the daemon running, then with it stopped and started again.
func TestSendmailCallers(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnv(t, "")
	caller := e.Caller.Name + "@example.test"
	calls := []struct {
		name  string
		args  []string
		input string
		to    []string // mailboxes that get it
		check func(t *testing.T, msg string)
	}{
		{"cron (Debian): -FCronDaemon -i -B8BITMIME -oem user",
			[]string{"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "demo"},
			"Subject: Cron <" + caller + "> /usr/local/bin/job\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\njob output\r\n.\r\nmore output\r\n",
			[]string{"demo"},
			func(t *testing.T, msg string) {
				if got := mailHeader(msg, "From"); got != "CronDaemon <"+caller+">" {
					t.Errorf("From: %q", got)
				}
				if !strings.Contains(msg, "job output\n.\nmore output\n") {
					t.Errorf("-i: the lone dot must be kept:\n%s", msg)
				}
			}},
		{"cronie: -FCronDaemon -i -odi -oem -oi -t -f",
			[]string{"-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", "root@example.test"},
			"To: demo\nSubject: cronie job\n\nout\n",
			[]string{"demo"},
			func(t *testing.T, msg string) {
				if got := mailHeader(msg, "Return-Path"); got != "<root@example.test>" {
					t.Errorf("Return-Path %q, want the -f sender", got)
				}
			}},
		{"PHP mail(): -t -i, Bcc removed",
			[]string{"-t", "-i"},
			"To: demo@example.test\nBcc: boss@example.test\nSubject: php\nX-PHP-Originating-Script: 1000:mail.php\n\nhello\n",
			[]string{"demo", "boss"},
			func(t *testing.T, msg string) {
				if strings.Contains(msg, "Bcc:") {
					t.Errorf("Bcc left in the message:\n%s", msg)
				}
			}},
		{"without -i a lone dot ends the message",
			[]string{"info@example.test"},
			"Subject: dot\n\nbefore\n.\nafter\n",
			[]string{"demo"},
			func(t *testing.T, msg string) {
				if strings.Contains(msg, "after") {
					t.Errorf("text after the dot was kept:\n%s", msg)
				}
			}},
	}
	common := func(t *testing.T, msg string) {
		for _, h := range []string{"Date", "Message-ID", "From", "Received"} {
			if mailHeader(msg, h) == "" {
				t.Errorf("no %s: header:\n%s", h, msg)
			}
		}
		if want := fmt.Sprintf("from userid %d %s", e.Caller.UID, e.Caller.Name); !strings.Contains(msg, want) {
			t.Errorf("Received does not name the caller (%q):\n%s", want, msg)
		}
	}
	send := func(t *testing.T, phase string) {
		for _, c := range calls {
			r := e.Sendmail(c.input, c.args...)
			if r.Code != 0 {
				t.Fatalf("%s, %s: exit %d: %s", phase, c.name, r.Code, r.Stderr)
			}
		}
	}
	// verify waits for every call's message in every mailbox it goes to
	// (before: what the mailboxes held already) and checks it.
	verify := func(t *testing.T, before map[string]int) {
		want := map[string]int{}
		for _, c := range calls {
			for _, m := range c.to {
				want[m]++
			}
		}
		got := map[string][]string{}
		for m, n := range want {
			got[m] = e.WaitMail(m, before[m]+n)
		}
		for _, c := range calls {
			subject := mailHeader(c.input, "Subject")
			for _, m := range c.to {
				var msg string
				for _, x := range got[m] {
					if mailHeader(x, "Subject") == subject {
						msg = x
					}
				}
				if msg == "" {
					t.Errorf("%s: %s did not get it", c.name, m)
					continue
				}
				common(t, msg)
				c.check(t, msg)
			}
		}
	}
	t.Run("daemon running", func(t *testing.T) {
		before := map[string]int{"demo": e.MailCount("demo"), "boss": e.MailCount("boss")}
		send(t, "daemon running")
		verify(t, before)
		if strings.Contains(e.Log(), "via=pickup") {
			t.Errorf("with the daemon up, messages should go through the socket")
		}
	})
	t.Run("daemon stopped, then started", func(t *testing.T) {
		for _, m := range []string{"demo", "boss"} {
			os.RemoveAll(e.NewDir(m))
			os.MkdirAll(e.NewDir(m), 0o700)
			harness.Chown(t, e.NewDir(m), e.Daemon)
		}
		e.Stop()
		send(t, "daemon stopped")
		files, _ := filepath.Glob(filepath.Join(e.Pickup, "m.*"))
		if len(files) != len(calls) {
			t.Fatalf("%d files waiting in the pickup directory, want %d", len(files), len(calls))
		}
		// What waits there is closed to other users.
		other := harness.EnsureUser(t, "ebbother")
		if r := harness.Run(t, harness.AsUser(exec.Command("cat", files[0]), other), nil); r.Code == 0 {
			t.Errorf("another user can read a waiting message")
		}
		if r := harness.Run(t, harness.AsUser(exec.Command("ls", e.Pickup), other), nil); r.Code == 0 {
			t.Errorf("another user can list the pickup directory: %s", r.Stdout)
		}
		e.Start()
		verify(t, map[string]int{})
		if !strings.Contains(e.Log(), "via=pickup") {
			t.Errorf("no pickup logged:\n%s", e.Log())
		}
		if files, _ := filepath.Glob(filepath.Join(e.Pickup, "m.*")); len(files) != 0 {
			t.Errorf("left in the pickup directory: %v", files)
		}
	})
	// The spool stayed closed to the caller all along.
	if r := harness.Run(t, harness.AsUser(exec.Command("ls", e.Spool), e.Caller), nil); r.Code == 0 {
		t.Errorf("the caller can list the spool: %s", r.Stdout)
	}
}

// When the message cannot be made durable anywhere, sendmail says so in
// one sentence and exits 75, so that cron and mailx keep it (dead.letter)
// instead of believing it sent.
func TestSendmailNowhereToPutIt(t *testing.T) {
	t.Parallel()
	harness.RequireRoot(t)
	dir := harness.Dir(t)
	caller := harness.Unprivileged(t)
	pickup := filepath.Join(dir, "pickup")
	conf := filepath.Join(dir, "ebb.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf("[sendmail]\npickup_dir = %q\ndomain = \"example.test\"\n", pickup)), 0o644)
	run := func() harness.Result {
		cmd := exec.Command(harness.Ebb(t), "sendmail", "-C", conf, "-i", "demo")
		return harness.Run(t, harness.AsUser(cmd, caller), []byte("Subject: x\n\nbody\n"))
	}
	t.Run("pickup directory missing (the daemon never ran)", func(t *testing.T) {
		r := run()
		if r.Code != 75 {
			t.Errorf("exit %d, want 75", r.Code)
		}
		for _, w := range []string{"sendmail: cannot create a file in " + pickup, "no such file or directory", "sendmail.pickup_dir", "Fix: ebb serve creates " + pickup + " (owned by server.user, mode 3733): start ebb serve -c "} {
			if !strings.Contains(r.Stderr, w) {
				t.Errorf("want %q in stderr %q", w, r.Stderr)
			}
		}
	})
	t.Run("pickup directory not writable", func(t *testing.T) {
		os.Mkdir(pickup, 0o755)
		r := run()
		if r.Code != 75 {
			t.Errorf("exit %d, want 75", r.Code)
		}
		for _, w := range []string{"cannot create a file in " + pickup, "permission denied", "uid " + fmt.Sprint(caller.UID), "root:root 0755", "Fix:"} {
			if !strings.Contains(r.Stderr, w) {
				t.Errorf("want %q in stderr %q", w, r.Stderr)
			}
		}
		if strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Errorf("more than one line: %q", r.Stderr)
		}
	})
	t.Run("usage error is 64", func(t *testing.T) {
		cmd := exec.Command(harness.Ebb(t), "sendmail", "-C", conf, "-Z")
		if r := harness.Run(t, harness.AsUser(cmd, caller), nil); r.Code != 64 || !strings.Contains(r.Stderr, "unknown option -Z") {
			t.Errorf("exit %d %q", r.Code, r.Stderr)
		}
	})
}

// -bs (swaks speaking SMTP into `ebb sendmail -bs` through a pipe), -bp and
// -q, as an ordinary user who cannot read the spool.
func TestSendmailModes(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnv(t, "")
	// -bs: swaks --pipe runs the command as the caller.
	pipe := fmt.Sprintf("%s sendmail -C %s -bs", harness.Ebb(t), e.Conf)
	cmd := exec.Command("swaks", "--pipe", pipe, "--from", e.Caller.Name+"@example.test", "--to", "demo@example.test", "--h-Subject", "over -bs")
	r := harness.Run(t, harness.AsUser(cmd, e.Caller), nil)
	if r.Code != 0 || !strings.Contains(r.Stdout, "250 2.0.0 Ok: queued as") {
		t.Fatalf("swaks --pipe '... -bs': exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	msg := e.WaitMail("demo", 1)[0]
	if mailHeader(msg, "Subject") != "over -bs" || !strings.Contains(msg, fmt.Sprintf("from userid %d", e.Caller.UID)) {
		t.Errorf("-bs message:\n%s", msg)
	}

	// A message for a remote address waits in the queue.
	if r := e.Sendmail("Subject: waits\n\nx\n", "-i", "far@remote.example"); r.Code != 0 {
		t.Fatalf("sendmail: %d %s", r.Code, r.Stderr)
	}
	if !harness.WaitOn(10*time.Second, func() bool {
		r = e.Sendmail("", "-bp")
		return strings.Contains(r.Stdout, "far@remote.example") && strings.Contains(r.Stdout, "MX lookup of remote.example")
	}, harness.QueueDir(e.Spool)) {
		t.Fatalf("sendmail -bp as %s: exit %d\n%s%s", e.Caller.Name, r.Code, r.Stdout, r.Stderr)
	}
	// mailq by that name, as the same ordinary user: the spool is closed to
	// it, so it asks the daemon as -bp does.
	link := filepath.Join(harness.Dir(t), "mailq")
	if err := os.Symlink(harness.Ebb(t), link); err != nil {
		t.Fatal(err)
	}
	mq := exec.Command(link, "-c", e.Conf)
	mq.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	if r := harness.Run(t, harness.AsUser(mq, e.Caller), nil); r.Code != 0 || !strings.Contains(r.Stdout, "far@remote.example") {
		t.Errorf("mailq as %s: exit %d\n%s%s", e.Caller.Name, r.Code, r.Stdout, r.Stderr)
	}
	// -q: the daemon retries now (and says so in its log).
	if r := e.Sendmail("", "-q"); r.Code != 0 {
		t.Errorf("sendmail -q: exit %d %s", r.Code, r.Stderr)
	}
	if !strings.Contains(e.Log(), `msg="queue flush requested"`) {
		t.Errorf("flush not logged")
	}
	// With the daemon down, -q says so with exit 75.
	e.Stop()
	if r := e.Sendmail("", "-q"); r.Code != 75 || !strings.Contains(r.Stderr, "the daemon is not running") {
		t.Errorf("sendmail -q with the daemon down: exit %d %q", r.Code, r.Stderr)
	}
	// A hung daemon (its socket takes the connection and never answers):
	// -bp, as the ordinary user the spool is closed to, asks it once and
	// gives up after one timeout (30 s), saying both what it could not
	// read and that the daemon did not answer.
	sock := filepath.Join(e.Pickup, "submit.sock")
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }() // reads MAILQ, never answers
		}
	}()
	start := time.Now()
	r = e.Sendmail("", "-bp")
	took := time.Since(start)
	t.Logf("sendmail -bp with a hung daemon: %s, exit %d: %s", took.Round(time.Millisecond), r.Code, r.Stderr)
	if took > 45*time.Second {
		t.Errorf("sendmail -bp with a hung daemon took %s: more than one 30 s timeout", took)
	}
	if r.Code == 0 || !strings.Contains(r.Stderr, e.Spool) || !strings.Contains(r.Stderr, sock) || !strings.Contains(r.Stderr, "timeout") {
		t.Errorf("sendmail -bp with a hung daemon: exit %d %q, want the spool it cannot read and the daemon's socket that did not answer", r.Code, r.Stderr)
	}
	if n := strings.Count(r.Stderr, sock); n != 1 {
		t.Errorf("sendmail -bp with a hung daemon names the socket %d times, want once: %q", n, r.Stderr)
	}
}
