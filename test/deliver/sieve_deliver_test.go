package deliver

import (
	"fmt"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Sieve at delivery, end to end: `ebb deliver` (run as root, as an MTA
// runs an MDA; it drops to server.user) runs bob's active script from a
// Dovecot layout (~/sieve/main.sieve linked as ~/.dovecot.sieve, ~ being
// the Maildir's parent), and an `ebb serve` on loopback takes the
// redirects and vacation responses from the sendmail pickup into its queue
// and delivers them to local mailboxes, where the test reads them.

type sieveEnv struct {
	t      *testing.T
	dir    string
	conf   string
	daemon harness.User
	mail   string
	pickup string
	smtp   string
}

func newSieveEnv(t *testing.T) *sieveEnv {
	t.Helper()
	harness.RequireRoot(t)
	e := &sieveEnv{t: t, dir: harness.Dir(t)}
	e.daemon = harness.EnsureUser(t, "ebbvmail")
	e.conf = filepath.Join(e.dir, "ebb.toml")
	e.mail = filepath.Join(e.dir, "mail")
	e.pickup = filepath.Join(e.dir, "pickup")
	e.smtp = fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	conf := harness.ConfHead("mx.example.test", e.daemon.Name, e.dir) + fmt.Sprintf(`retry_min = "1s"

[directory]
argon2_memory = "8M"
argon2_time = 1

[smtp]
listen = [%q]

[submission]
listen = []
listen_tls = []

[sieve]
before = [%q]

[sendmail]
pickup_dir = %q
domain = "example.test"
scan_interval = "1s"

[metrics]
listen = ""
`, e.smtp, e.before(), e.pickup)
	if err := os.WriteFile(e.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// A global script every delivery runs before the user's (sieve.before).
	if err := os.WriteFile(e.before(), []byte("require \"fileinto\";\nif header :contains \"subject\" \"[global]\" { fileinto \"Global\"; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data", "mail"} {
		os.MkdirAll(filepath.Join(e.dir, d), 0o755)
		harness.Chown(t, filepath.Join(e.dir, d), e.daemon)
	}
	e.ebb(nil, 0, "domain", "add", "-c", e.conf, "example.test")
	for _, u := range []string{"bob", "boss", "carol"} {
		e.ebb([]byte("secret pass 1\n"), 0, "user", "add", "-c", e.conf, u+"@example.test")
	}
	e.start()
	return e
}

// ebb runs an ebb command as the daemon user and wants exit code want.
func (e *sieveEnv) ebb(stdin []byte, want int, args ...string) harness.Result {
	e.t.Helper()
	r := harness.Run(e.t, harness.AsUser(exec.Command(harness.Ebb(e.t), args...), e.daemon), stdin)
	if r.Code != want {
		e.t.Fatalf("ebb %v: exit %d, want %d: %s", args, r.Code, want, r.Stderr)
	}
	return r
}

func (e *sieveEnv) start() {
	e.t.Helper()
	harness.StartServe(e.t, e.conf, filepath.Join(e.dir, "serve.log"))
	if !harness.WaitSocket(filepath.Join(e.pickup, "submit.sock"), 15*time.Second) {
		e.t.Fatalf("ebb serve did not open its pickup socket; log:\n%s", e.log())
	}
}

func (e *sieveEnv) before() string { return filepath.Join(e.dir, "before.sieve") }

func (e *sieveEnv) log() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "serve.log"))
	return string(b)
}

func (e *sieveEnv) home(local string) string {
	return filepath.Join(e.mail, "example.test", local)
}

func (e *sieveEnv) maildir(local string) string { return filepath.Join(e.home(local), "Maildir") }

// setScript installs bob's active script the Dovecot way.
func (e *sieveEnv) setScript(local, src string) {
	e.t.Helper()
	dir := filepath.Join(e.home(local), "sieve")
	os.MkdirAll(dir, 0o700)
	if err := os.WriteFile(filepath.Join(dir, "main.sieve"), []byte(src), 0o600); err != nil {
		e.t.Fatal(err)
	}
	link := filepath.Join(e.home(local), ".dovecot.sieve")
	os.Remove(link)
	if err := os.Symlink("sieve/main.sieve", link); err != nil {
		e.t.Fatal(err)
	}
	harness.Chown(e.t, e.mail, e.daemon)
}

// deliver pipes msg into `ebb deliver -d rcpt -f sender` as root.
func (e *sieveEnv) deliver(rcpt, sender, msg string) harness.Result {
	e.t.Helper()
	return harness.Run(e.t, exec.Command(harness.Ebb(e.t), "deliver", "-c", e.conf, "-d", rcpt, "-f", sender), []byte(msg))
}

// files lists the message files of a folder ("" is INBOX) in new/ and cur/.
func (e *sieveEnv) files(local, folder string) []string {
	dir := e.maildir(local)
	if folder != "" {
		dir = filepath.Join(dir, "."+folder)
	}
	var out []string
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, en := range ents {
			out = append(out, filepath.Join(dir, sub, en.Name()))
		}
	}
	return out
}

// waitFiles waits until folder holds n messages.
func (e *sieveEnv) waitFiles(local, folder string, n int) []string {
	e.t.Helper()
	dir := e.maildir(local)
	if folder != "" {
		dir = filepath.Join(dir, "."+folder)
	}
	if !harness.WaitOn(20*time.Second, func() bool { return len(e.files(local, folder)) >= n },
		filepath.Join(dir, "new"), filepath.Join(dir, "cur")) {
		e.t.Fatalf("%s/%q has %d messages, want %d; daemon log:\n%s", local, folder, len(e.files(local, folder)), n, e.log())
	}
	return e.files(local, folder)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

func sieveMsg(from, to, subject, extra string) string {
	return fmt.Sprintf("From: %s\nTo: %s\nSubject: %s\nMessage-ID: <%d.%s@example.net>\nDate: Sat, 28 Nov 2026 10:00:00 +0000\n%s\nHello.\n",
		from, to, subject, time.Now().UnixNano(), strings.ReplaceAll(subject, " ", "-"), extra)
}

func TestSieveDelivery(t *testing.T) {
	t.Parallel()
	e := newSieveEnv(t)

	t.Run("files by header with flags", func(t *testing.T) {
		e.setScript("bob", `require ["fileinto", "imap4flags"];
if header :contains "subject" "invoice" { addflag "\\Seen"; fileinto "Finance"; stop; }
addflag "\\Flagged";
`)
		r := e.deliver("bob@example.test", "alice@example.net", sieveMsg("alice@example.net", "bob@example.test", "Your invoice 42", ""))
		if r.Code != 0 {
			t.Fatalf("exit %d: %s", r.Code, r.Stderr)
		}
		got := e.files("bob", "Finance")
		if len(got) != 1 || !strings.Contains(got[0], "/cur/") || !strings.HasSuffix(got[0], ":2,S") {
			t.Fatalf("Finance holds %v, want one file in cur/ ending :2,S (\\Seen)", got)
		}
		if n := len(e.files("bob", "")); n != 0 {
			t.Errorf("INBOX holds %d messages; fileinto cancels the implicit keep", n)
		}
		// Not an invoice: implicit keep into INBOX with \Flagged.
		r = e.deliver("bob@example.test", "alice@example.net", sieveMsg("alice@example.net", "bob@example.test", "lunch", ""))
		if r.Code != 0 {
			t.Fatalf("exit %d: %s", r.Code, r.Stderr)
		}
		in := e.files("bob", "")
		if len(in) != 1 || !strings.HasSuffix(in[0], ":2,F") {
			t.Fatalf("INBOX holds %v, want one file ending :2,F (\\Flagged)", in)
		}
	})

	t.Run("subaddress folders", func(t *testing.T) {
		e.setScript("bob", `require ["fileinto", "envelope", "subaddress", "variables", "mailbox"];
if envelope :detail :matches "to" "?*" { fileinto :create "Lists.${0}"; }
`)
		r := e.deliver("bob+kernel@example.test", "lkml@example.net", sieveMsg("lkml@example.net", "bob+kernel@example.test", "patch", ""))
		if r.Code != 0 {
			t.Fatalf("exit %d: %s", r.Code, r.Stderr)
		}
		if got := e.files("bob", "Lists.kernel"); len(got) != 1 {
			t.Fatalf("Lists.kernel holds %v, want 1 message; stderr %s", got, r.Stderr)
		}
	})

	t.Run("several fileinto copy share one file", func(t *testing.T) {
		e.setScript("bob", `require ["fileinto", "copy"];
fileinto :copy "Archive";
fileinto :copy "Backup";
`)
		before := len(e.files("bob", ""))
		r := e.deliver("bob@example.test", "alice@example.net", sieveMsg("alice@example.net", "bob@example.test", "copies", ""))
		if r.Code != 0 {
			t.Fatalf("exit %d: %s", r.Code, r.Stderr)
		}
		a, b := e.files("bob", "Archive"), e.files("bob", "Backup")
		in := e.files("bob", "")
		if len(a) != 1 || len(b) != 1 || len(in) != before+1 {
			t.Fatalf("Archive %v, Backup %v, INBOX %d (was %d): want one each plus the implicit keep", a, b, len(in), before)
		}
		ia, ib := inode(t, a[0]), inode(t, b[0])
		if ia != ib {
			t.Errorf("Archive and Backup hold different files (inodes %d, %d): want hard links of one written file", ia, ib)
		}
	})

	t.Run("redirect reaches the queue", func(t *testing.T) {
		e.setScript("bob", `redirect "boss@example.test";
`)
		r := e.deliver("bob@example.test", "alice@example.net", sieveMsg("alice@example.net", "bob@example.test", "for the boss", ""))
		if r.Code != 0 {
			t.Fatalf("exit %d: %s", r.Code, r.Stderr)
		}
		got := e.waitFiles("boss", "", 1)
		m := readFile(t, got[0])
		for _, want := range []string{"Subject: for the boss", "Return-Path: <alice@example.net>", "Delivered-To: bob@example.test"} {
			if !strings.Contains(m, want) {
				t.Errorf("the redirected message lacks %q:\n%s", want, m)
			}
		}
		if strings.Count(m, "Return-Path:") != 1 {
			t.Errorf("the redirected message has %d Return-Path fields, want 1:\n%s", strings.Count(m, "Return-Path:"), m)
		}
	})

	t.Run("vacation once per sender per period", func(t *testing.T) {
		e.setScript("bob", `require "vacation";
vacation :days 7 :subject "Away" "I am away until Monday.";
`)
		send := func(subject, extra string) harness.Result {
			r := e.deliver("bob@example.test", "carol@example.test", sieveMsg("carol@example.test", "bob@example.test", subject, extra))
			if r.Code != 0 {
				t.Fatalf("exit %d: %s", r.Code, r.Stderr)
			}
			return r
		}
		send("first", "")
		replies := e.waitFiles("carol", "", 1)
		m := readFile(t, replies[0])
		for _, want := range []string{"Return-Path: <>", "Auto-Submitted: auto-replied", "Subject: Away", "In-Reply-To: <", "References: <", "I am away until Monday."} {
			if !strings.Contains(m, want) {
				t.Errorf("the vacation reply lacks %q:\n%s", want, m)
			}
		}
		r := send("second", "")
		if !strings.Contains(r.Stderr, `why="already answered"`) {
			t.Errorf("second message: stderr %q does not say the sender was already answered", r.Stderr)
		}
		for _, c := range []struct{ name, extra, why string }{
			{"list", "List-Id: <team.example.test>\n", "mailing list"},
			{"bulk", "Precedence: bulk\n", "mailing list"},
			{"auto", "Auto-Submitted: auto-replied\n", "auto-submitted"},
		} {
			r := send(c.name, c.extra)
			if !strings.Contains(r.Stderr, `why="`+c.why+`"`) && !strings.Contains(r.Stderr, "why="+c.why+"\n") {
				t.Errorf("%s: stderr %q does not say %q", c.name, r.Stderr, c.why)
			}
		}
		r = harness.Run(t, exec.Command(harness.Ebb(t), "deliver", "-c", e.conf, "-d", "bob@example.test", "-f", "<>"),
			[]byte(sieveMsg("MAILER-DAEMON@example.net", "bob@example.test", "bounce", "")))
		if r.Code != 0 || !strings.Contains(r.Stderr, `why="null sender"`) {
			t.Errorf("<> sender: exit %d, stderr %q: want no response (null sender)", r.Code, r.Stderr)
		}
		// The period passes: move every record of bob's vacation state
		// into the past (the records hold the Unix time they end).
		state := filepath.Join(e.dir, "data", "sieve", "vacation")
		n := 0
		filepath.Walk(state, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				n++
				os.WriteFile(p, []byte(strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)+"\n"), 0o600)
			}
			return nil
		})
		if n != 1 {
			t.Fatalf("%d vacation records under %s, want 1 (one sender answered)", n, state)
		}
		send("after the period", "")
		e.waitFiles("carol", "", 2)
		// Every response ebb deliver handed the daemon is done: no third
		// is on its way.
		harness.WaitFor(t, "the daemon's queue to finish what it took", 15*time.Second, func() bool {
			l := e.log()
			return strings.Count(l, "msg=queued ") == strings.Count(l, "msg=removed ")
		})
		if got := len(e.files("carol", "")); got != 2 {
			t.Errorf("carol got %d responses, want 2 (one per period)", got)
		}
	})

	t.Run("the daemon's local delivery runs the script", func(t *testing.T) {
		e.setScript("bob", `require ["fileinto", "vacation"];
fileinto "ViaSMTP";
vacation :handle "daemon" :subject "Away (daemon)" "Sent by ebb serve.";
`)
		harness.WaitTCP(t, e.smtp, "220", 10*time.Second)
		msg := strings.ReplaceAll(sieveMsg("carol@example.test", "bob@example.test", "over smtp", ""), "\n", "\r\n")
		if err := smtp.SendMail(e.smtp, nil, "carol@example.test", []string{"bob@example.test"}, []byte(msg)); err != nil {
			t.Fatalf("SMTP: %v; daemon log:\n%s", err, e.log())
		}
		e.waitFiles("bob", "ViaSMTP", 1)
		replied := func() bool {
			for _, p := range e.files("carol", "") {
				if m := readFile(t, p); strings.Contains(m, "Subject: Away (daemon)") && strings.Contains(m, "Return-Path: <>") {
					return true
				}
			}
			return false
		}
		if !harness.WaitOn(20*time.Second, replied, filepath.Join(e.maildir("carol"), "new"), filepath.Join(e.maildir("carol"), "cur")) {
			t.Fatalf("carol got no vacation reply from the daemon's delivery; log:\n%s", e.log())
		}
	})

	t.Run("broken script falls back to keep", func(t *testing.T) {
		e.setScript("bob", "require \"fileinto\";\nfileinto \"x\"\n")
		before := len(e.files("bob", ""))
		r := e.deliver("bob@example.test", "alice@example.net", sieveMsg("alice@example.net", "bob@example.test", "broken", ""))
		if r.Code != 0 {
			t.Fatalf("exit %d: %s", r.Code, r.Stderr)
		}
		if got := len(e.files("bob", "")); got != before+1 {
			t.Errorf("INBOX has %d messages, want %d: a broken script must keep the message", got, before+1)
		}
		script := filepath.Join(e.home("bob"), ".dovecot.sieve")
		for _, want := range []string{"level=ERROR", "script does not compile", script, "line 3", "ebb sieve check " + script} {
			if !strings.Contains(r.Stderr, want) {
				t.Errorf("the log lacks %q:\n%s", want, r.Stderr)
			}
		}
	})

	t.Run("reject is permanent", func(t *testing.T) {
		e.setScript("bob", "require \"reject\";\nreject \"I do not want this.\";\n")
		r := e.deliver("bob@example.test", "alice@example.net", sieveMsg("alice@example.net", "bob@example.test", "unwanted", ""))
		if r.Code != 77 || !strings.Contains(r.Stderr, "I do not want this.") {
			t.Errorf("exit %d, stderr %q: want 77 (permanent) with the reason", r.Code, r.Stderr)
		}
	})

	t.Run("global before script runs first", func(t *testing.T) {
		e.setScript("bob", "require \"fileinto\";\nfileinto \"Mine\";\n")
		r := e.deliver("bob@example.test", "alice@example.net", sieveMsg("alice@example.net", "bob@example.test", "[global] notice", ""))
		if r.Code != 0 {
			t.Fatalf("exit %d: %s", r.Code, r.Stderr)
		}
		if g, m := e.files("bob", "Global"), e.files("bob", "Mine"); len(g) != 1 || len(m) != 1 || inode(t, g[0]) != inode(t, m[0]) {
			t.Errorf("Global %v, Mine %v: want one message in each (both scripts' fileinto), hard-linked", g, m)
		}
	})

	t.Run("duplicate is remembered", func(t *testing.T) {
		e.setScript("bob", "require [\"duplicate\", \"fileinto\"];\nif duplicate { fileinto \"Dups\"; }\n")
		msg := sieveMsg("alice@example.net", "bob@example.test", "twice", "")
		for i := 0; i < 2; i++ {
			if r := e.deliver("bob@example.test", "alice@example.net", msg); r.Code != 0 {
				t.Fatalf("exit %d: %s", r.Code, r.Stderr)
			}
		}
		if got := e.files("bob", "Dups"); len(got) != 1 {
			t.Errorf("Dups holds %d messages, want 1 (the second delivery of the same Message-ID)", len(got))
		}
	})

	t.Run("discard stores nothing", func(t *testing.T) {
		e.setScript("bob", "discard;\n")
		before := len(e.files("bob", ""))
		r := e.deliver("bob@example.test", "alice@example.net", sieveMsg("alice@example.net", "bob@example.test", "gone", ""))
		if r.Code != 0 || len(e.files("bob", "")) != before {
			t.Errorf("exit %d, INBOX %d (was %d): discard must succeed and store nothing", r.Code, len(e.files("bob", "")), before)
		}
	})
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}
