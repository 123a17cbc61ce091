package doctor

import (
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

// The queue and spool matrix, as ebb serve meets it: the fix a client's
// ref opens in ebb explain, and the one mailq shows, followed literally
// with the daemon running (its restarts and reloads are the case's).
func TestHintsFollowedFixTheQueueMatrix(t *testing.T) {
	t.Parallel()
	refIn := regexp.MustCompile(`\(ref ([A-Z2-7]{8})\)`)
	t.Run("the spool made by root: a client's ref, explained", func(t *testing.T) {
		e := harness.NewQueueEnv(t, "")
		e.Start()
		harness.Install(t, "swaks")
		send := func() (string, bool) {
			r := harness.Run(t, exec.Command("swaks", "--server", e.SMTP, "--from", "alice@example.org", "--to", "bob@example.test",
				"--timeout", "60", "--h-Subject", "via the spool"), nil)
			return r.Stdout, r.Code == 0
		}
		os.Chown(e.Spool, 0, 0)
		out, ok := send()
		m := refIn.FindStringSubmatch(out)
		if ok || m == nil {
			t.Fatalf("the unwritable spool did not refuse with a ref:\n%s", out)
		}
		story := e.Ebb("explain", "-c", e.Conf, m[1])
		f := &harness.HintFollower{T: t, Daemon: func(string) { e.Stop(); e.Start() }}
		before := harness.Observe(t, f, e.Dir)
		harness.FollowUntilFixed(t, f, send, story.Stdout)
		before.NotWorse(t, harness.Observe(t, f, e.Dir), e.User, f.Done)
		e.WaitFor("the message in bob's Maildir", func() bool { return len(e.Delivered("bob")) == 1 })
	})
	t.Run("pickup behind a closed parent", func(t *testing.T) {
		// The spool, and so the pickup directory beside it, moved into a
		// directory made for the mail user alone (install -d -m 0750, as
		// doctor makes mail.root's and server.data_dir's parents): the
		// pickup directory is right, and no user but the mail user
		// reaches it.
		e := harness.NewQueueEnv(t, "")
		own := filepath.Join(e.Dir, "e") // short: the socket's path has 108 bytes at most
		os.Mkdir(own, 0o750)
		harness.Chown(t, own, e.User)
		os.Chmod(own, 0o750)
		b, _ := os.ReadFile(e.Conf)
		os.WriteFile(e.Conf, append(b, fmt.Sprintf("\n[sendmail]\npickup_dir = %q\n", filepath.Join(own, "p"))...), 0o644)
		e.Start()
		caller := harness.EnsureLoginUser(t, "ebbnewbie")
		send := func() (string, bool) {
			cmd := exec.Command(harness.Ebb(t), "sendmail", "-C", e.Conf, "-i", "bob@example.test")
			r := harness.Run(t, harness.AsUser(cmd, caller), []byte("Subject: from an ordinary user\n\nbody\n"))
			return r.Stderr, r.Code == 0
		}
		out, ok := send()
		if ok || !strings.Contains(out, "permission denied") {
			t.Fatalf("sendmail reached a pickup directory behind a closed parent:\n%s", out)
		}
		if d := e.Ebb("doctor", "-c", e.Conf); !strings.Contains(d.Stdout, "FAIL  sendmail.pickup") {
			t.Errorf("doctor does not see the closed parent:\n%s", d.Stdout)
		}
		t.Logf("sendmail: %s", out)
		f := &harness.HintFollower{T: t, Daemon: func(string) { e.Stop(); e.Start() }}
		before := harness.Observe(t, f, e.Dir)
		harness.FollowWithin(t, f, send, out, 1)
		before.NotWorse(t, harness.Observe(t, f, e.Dir), e.User, f.Done)
		e.WaitFor("the message in bob's Maildir", func() bool { return len(e.Delivered("bob")) == 1 })
	})
	t.Run("the spool made by root: an empty mailq says nothing gets in", func(t *testing.T) {
		// mailq used to say "Mail queue is empty", exit 0, while every
		// client got 451: the queue is empty because nothing gets in.
		harness.Install(t, "swaks")
		e := harness.NewQueueEnv(t, "")
		e.Start()
		os.Chown(e.Spool, 0, 0)
		mailq := func() (string, bool) {
			r := e.Ebb("mailq", "-c", e.Conf)
			return r.Stdout, !strings.Contains(r.Stdout, "new mail is not queued now")
		}
		out, ok := mailq()
		if ok || !strings.Contains(out, "Mail queue is empty") || !strings.Contains(out, "Fix: run: chown "+e.User.Name+":") {
			t.Fatalf("mailq with the spool made by root:\n%s", out)
		}
		f := &harness.HintFollower{T: t, Daemon: func(string) { e.Stop(); e.Start() }}
		before := harness.Observe(t, f, e.Dir)
		harness.FollowWithin(t, f, mailq, out, 1)
		before.NotWorse(t, harness.Observe(t, f, e.Dir), e.User, f.Done)
		if r := harness.Run(t, exec.Command("swaks", "--server", e.SMTP, "--from", "alice@example.org", "--to", "bob@example.test", "--timeout", "60"), nil); r.Code != 0 {
			t.Errorf("after following mailq's fix, swaks: %s", r.Stdout)
		}
	})
	t.Run("the spool closed by its owner, then a restart", func(t *testing.T) {
		// chmod 0500 of the spool: mail still flows (queue/ is open), but
		// a restarted daemon cannot make its control socket again, and
		// ebb queue flush once said to stop "the other instance" (the
		// daemon itself) and doctor said ok.
		e := harness.NewQueueEnv(t, "")
		e.Start()
		os.Chmod(e.Spool, 0o500)
		e.Stop()
		e.Start() // the old socket file is still there: it cannot go
		flush := func() (string, bool) {
			r := e.Ebb("queue", "flush", "-c", e.Conf)
			if r.Code == 0 {
				return r.Stdout, true
			}
			// What an administrator reads: flush's words, and doctor's
			// (flush's fix ends with "then check: ebb doctor").
			d := e.Ebb("doctor", "-c", e.Conf)
			var lines []string
			for _, l := range strings.Split(d.Stdout, "\n") {
				if strings.HasPrefix(l, "FAIL  queue.spool") {
					lines = append(lines, l)
				}
			}
			return strings.Join(append(lines, r.Stderr), "\n"), false
		}
		out, ok := flush()
		if ok || !strings.Contains(out, "FAIL  queue.spool") || strings.Contains(out, "stop the other instance") {
			t.Fatalf("the closed spool, flush and doctor:\n%s", out)
		}
		f := &harness.HintFollower{T: t, Daemon: func(string) { e.Stop(); e.Start() }}
		before := harness.Observe(t, f, e.Dir)
		harness.FollowUntilFixed(t, f, flush, out)
		before.NotWorse(t, harness.Observe(t, f, e.Dir), e.User, f.Done)
	})
	t.Run("a Maildir root made: mailq's fix, then a flush", func(t *testing.T) {
		e := harness.NewQueueEnv(t, "")
		box := e.Maildir("bob")
		e.RootOwnedMaildir(box)
		e.Start()
		f0 := filepath.Join(e.Dir, "m.eml")
		harness.WriteMessage(t, f0, "deferred", 500)
		if r := e.Swaks("bob@example.test", f0); r.Code != 0 {
			t.Fatalf("swaks: %s", r.Stdout)
		}
		var text string
		e.WaitFor("a deferral with its fix", func() bool {
			text, _ = e.Mailq()
			return strings.Contains(text, "Fix: ")
		})
		// mailq's ref opens the message's story too (explain REF).
		if m := regexp.MustCompile(`  ref ([A-Z2-7]{8})`).FindStringSubmatch(text); m == nil {
			t.Errorf("mailq shows no ref:\n%s", text)
		} else if r := e.Ebb("explain", "-c", e.Conf, m[1]); r.Code != 0 || !strings.Contains(r.Stdout, "deferred for <bob@example.test>") || !strings.Contains(r.Stdout, "Fix: ") {
			t.Errorf("explain %s (mailq's ref): exit %d\n%s%s", m[1], r.Code, r.Stdout, r.Stderr)
		}
		f := &harness.HintFollower{T: t, Daemon: func(string) { e.Stop(); e.Start() }}
		before := harness.Observe(t, f, e.Dir)
		harness.FollowUntilFixed(t, f, func() (string, bool) {
			if r := e.Ebb("queue", "flush", "-c", e.Conf); r.Code != 0 {
				t.Fatalf("flush: %s", r.Stderr)
			}
			// Until the queue is empty, or the message was tried again
			// and failed again; mailq changes with the queue's files.
			var text string
			harness.WaitOn(10*time.Second, func() bool {
				text, _ = e.Mailq()
				return strings.Contains(text, "Mail queue is empty") || strings.Contains(text, "attempts 2") || strings.Contains(text, "attempts 3")
			}, harness.QueueDir(e.Spool))
			return text, strings.Contains(text, "Mail queue is empty")
		}, text)
		before.NotWorse(t, harness.Observe(t, f, e.Dir), e.User, f.Done)
		if n := len(e.Delivered("bob")); n != 1 {
			t.Errorf("%d messages in bob's Maildir after the fix, want 1", n)
		}
	})
}

// mountNamespace is a private mount namespace where /var is an overlay: a
// fix that creates a directory of ebb's own beside the system's /var/mail
// (/var/vmail) is followed there, and the host's /var stays as it was. A
// process holds the namespace; commands enter it with nsenter.
type mountNamespace struct {
	pid int
}

func newMountNamespace(t *testing.T) *mountNamespace {
	t.Helper()
	harness.RequireRoot(t)
	dir := t.TempDir()
	// The filesystems mounted below /var (a separate /var/tmp, where
	// test/run-all.sh puts EBB_BIN; /var/lib/docker …) would be hidden by
	// the overlay: each is moved aside before it and back on top after,
	// so the namespace sees them as the host does. The stash (in dir) must
	// be outside /var: its path must still resolve once the overlay is on.
	if strings.HasPrefix(dir, "/var/") {
		t.Fatalf("the test's temp dir %s is below /var, which the overlay covers: set TMPDIR elsewhere", dir)
	}
	for _, d := range []string{"upper", "work", "stash"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	script := `set -e
subs=
for m in $(findmnt -rn -o TARGET | grep '^/var/' | LC_ALL=C sort -u); do
	inner=
	for s in $subs; do case "$m" in "$s"/*) inner=1 ;; esac; done
	[ -n "$inner" ] || subs="$subs $m"
done
i=0
for s in $subs; do mkdir "$1/stash/$i"; mount --rbind "$s" "$1/stash/$i"; i=$((i+1)); done
mount -t overlay overlay -o "lowerdir=/var,upperdir=$1/upper,workdir=$1/work" /var
i=0
for s in $subs; do mount --move "$1/stash/$i" "$s"; i=$((i+1)); done
echo ready
exec sleep 3600`
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", dir)
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	holder.Stderr = os.Stderr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	buf := make([]byte, 6)
	if n, _ := out.Read(buf); string(buf[:n]) != "ready\n" {
		t.Fatalf("the mount namespace did not start: %q", buf[:n])
	}
	return &mountNamespace{pid: holder.Process.Pid}
}

// command runs args inside the namespace.
func (ns *mountNamespace) command(args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"-t", fmt.Sprint(ns.pid), "-m", "--"}, args...)...)
}

// mail.root = /var/mail, the system's (root:mail 2775): delivery as the
// mail user fails; the fix never touches /var/mail, it makes ebb's own
// /var/vmail and points mail.root at it (in the namespace's overlay).
func TestHintsFollowedFixASharedMailRoot(t *testing.T) {
	t.Parallel()
	ns := newMountNamespace(t)
	m := harness.NewMailEnv(t, "")
	m.AddMailboxes("example.test", []string{"alice", "bob"}, nil)
	harness.SetTOML(t, m.Conf, "mail.root", `"/var/mail"`)
	m.Root = "/var/vmail" // where the mail is once the fix is followed
	deliver := func(who string) (string, bool) {
		cmd := ns.command("setpriv", fmt.Sprintf("--reuid=%d", m.User.UID), fmt.Sprintf("--regid=%d", m.User.GID), "--clear-groups",
			harness.Ebb(t), "deliver", "-c", m.Conf, "-d", who+"@example.test")
		r := harness.Run(t, cmd, harness.DeliverMessage("for "+who, 500))
		return r.Stdout + r.Stderr, r.Code == 0
	}
	out, ok := deliver("alice")
	if ok || !strings.Contains(out, "/var/mail") {
		t.Fatalf("delivery under the system's /var/mail did not fail:\n%s", out)
	}
	f := &harness.HintFollower{T: t, Ns: ns.command, Daemon: func(string) {}} // ebb deliver reads the config at each run
	before := harness.Observe(t, f, m.Dir)
	harness.FollowUntilFixed(t, f, func() (string, bool) { return deliver("alice") }, out)
	before.NotWorse(t, harness.Observe(t, f, m.Dir), m.User, f.Done)
	if !strings.Contains(strings.Join(f.Done, " "), "install -d -o "+m.User.Name+" -g "+m.User.Name+" -m 0750 /var/vmail") {
		t.Errorf("the fix did not make /var/vmail for the mail user: %q", f.Done)
	}
	// Two mailboxes, two Maildirs, under the new root.
	if _, ok := deliver("bob"); !ok {
		t.Fatal("bob after the fix")
	}
	for _, who := range []string{"alice", "bob"} {
		r := harness.Run(t, ns.command("sh", "-c", "cat /var/vmail/example.test/"+who+"/Maildir/new/*"), nil)
		other := map[string]string{"alice": "bob", "bob": "alice"}[who]
		if !strings.Contains(r.Stdout, "Subject: for "+who) || strings.Contains(r.Stdout, "Subject: for "+other) {
			t.Errorf("%s's Maildir under /var/vmail: %q", who, r.Stdout)
		}
	}
	if _, err := os.Stat("/var/vmail/example.test"); err == nil {
		t.Errorf("the host's /var was changed: the fix ran outside the namespace")
	}
}

// A full filesystem: the fix names the directory (not the message's file,
// gone by then) and the df commands; "free space" is followed by deleting
// the file that filled it.
func TestHintsFollowedFixAFullFilesystem(t *testing.T) {
	t.Parallel()
	m := harness.NewMailEnv(t, "")
	m.AddMailboxes("example.test", []string{"alice", "bob"}, nil)
	mnt := filepath.Join(m.Root, "example.test", "alice")
	os.MkdirAll(mnt, 0o755)
	if out, err := harness.RunOut("mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", mnt); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { harness.RunOut("umount", "-l", mnt) })
	m.Maildir(m.BoxOf("alice", "example.test"))
	m.Maildir(m.BoxOf("bob", "example.test"))
	filler := filepath.Join(mnt, "filler")
	os.WriteFile(filler, make([]byte, 900<<10), 0o600)
	deliver := func() (string, bool) {
		r := m.Deliver(harness.DeliverMessage("big", 300<<10), "-d", "alice@example.test")
		return r.Stdout + r.Stderr, r.Code == 0
	}
	out, ok := deliver()
	if ok || !strings.Contains(out, "no space left on device") {
		t.Fatalf("the full filesystem did not refuse:\n%s", out)
	}
	f := &harness.HintFollower{T: t, Words: map[string]func(){"free space or inodes there": func() { os.Remove(filler) }}}
	before := harness.Observe(t, f, m.Dir)
	harness.FollowUntilFixed(t, f, deliver, out)
	before.NotWorse(t, harness.Observe(t, f, m.Dir), m.User, f.Done)
	twoMailboxesTwoMaildirs(t, m, f.Done)
}

// DKIM keys and TLS files, as doctor (root, probing as the mail user) and
// the daemon meet them.
func TestHintsFollowedFixKeysAndCertificates(t *testing.T) {
	t.Parallel()
	t.Run("a DKIM key root made", func(t *testing.T) {
		m := harness.NewMailEnv(t, "")
		m.AddMailboxes("example.test", []string{"alice", "bob"}, nil)
		if r := harness.Run(t, exec.Command(harness.Ebb(t), "dkim", "keygen", "-c", m.Conf, "example.test"), nil); r.Code != 0 {
			t.Fatalf("keygen: %s", r.Stderr)
		}
		keys, _ := filepath.Glob(filepath.Join(m.Dir, "data", "dkim", "*", "*"))
		if len(keys) == 0 {
			keys, _ = filepath.Glob(filepath.Join(m.Dir, "data", "dkim", "*"))
		}
		var key string
		for _, k := range keys {
			if fi, err := os.Stat(k); err == nil && fi.Mode().IsRegular() {
				key = k
			}
		}
		if key == "" {
			t.Fatalf("no key file under %s: %v", filepath.Join(m.Dir, "data", "dkim"), keys)
		}
		rootOwn(t, key, 0o600)
		doctor := func() (string, bool) { return harness.DoctorLines(t, m.Conf, "cannot read the DKIM key") }
		out, ok := doctor()
		if ok {
			t.Fatal("doctor does not see the key the mail user cannot read")
		}
		f := &harness.HintFollower{T: t}
		before := harness.Observe(t, f, m.Dir)
		harness.FollowUntilFixed(t, f, doctor, out)
		before.NotWorse(t, harness.Observe(t, f, m.Dir), m.User, f.Done)
	})
	t.Run("the TLS key a reload cannot read", func(t *testing.T) {
		e := harness.NewServeEnv(t, harness.ServeOpts{TLS: true})
		rootOwn(t, e.Key, 0o600)
		keyBefore, _ := os.ReadFile(e.Key)
		doctor := func() (string, bool) { return harness.DoctorLines(t, e.Conf, "read the TLS key as server.user") }
		out, ok := doctor()
		if ok {
			t.Fatal("doctor does not see the TLS key a reload cannot read")
		}
		f := &harness.HintFollower{T: t, Daemon: func(action string) {
			if action != "reload" {
				t.Fatalf("the fix says %s, a reload would do", action)
			}
			e.Signal(syscall.SIGHUP)
		}}
		before := harness.Observe(t, f, e.Dir)
		harness.FollowUntilFixed(t, f, doctor, out)
		before.NotWorse(t, harness.Observe(t, f, e.Dir), e.User, f.Done)
		if b, _ := os.ReadFile(e.Key); string(b) != string(keyBefore) {
			t.Error("the original key was changed")
		}
		harness.WaitLogFile(t, e.LogPath, "reload: TLS certificate loaded", 1, 10*time.Second)
	})
}

// Dovecot's auth worker runs as the mail user already (ebb's snippet);
// the database root made is what it cannot read. The old fix said to set
// the auth worker's user, which was set: the fix now gives the database
// to the mail user, and Dovecot's logins work again.
func TestHintsFollowedFixDovecotAuthWorker(t *testing.T) {
	t.Parallel()
	e, ddir := harness.NewDovecotServeEnv(t)
	d := harness.StartDovecotOnEbb(t, e, ddir)
	if err := harness.ImapLogin(d.Imap, "127.0.0.20", "alice@example.test", "alice-pw"); err != nil {
		t.Fatalf("login before: %v", err)
	}
	rootOwn(t, filepath.Join(e.Dir, "data", "directory.db"), 0o600)
	doctor := func() (string, bool) { return harness.DoctorLines(t, e.Conf, "Dovecot's auth worker") }
	out, ok := doctor()
	if ok || strings.Contains(out, "service auth-worker") {
		t.Fatalf("doctor: %s", out)
	}
	f := &harness.HintFollower{T: t, Daemon: func(string) { e.Stop(); e.Start() }}
	before := harness.Observe(t, f, e.Dir)
	harness.FollowUntilFixed(t, f, doctor, out)
	before.NotWorse(t, harness.Observe(t, f, e.Dir), e.User, f.Done)
	if err := harness.ImapLogin(d.Imap, "127.0.0.21", "alice@example.test", "alice-pw"); err != nil {
		t.Errorf("Dovecot login after following %q: %v\n%s", f.Done, err, d.Dc.Log())
	}
}

// scan.clamd.max_size above clamd's StreamMaxLength: messages between the
// two get the failure policy instead of a scan. The fix sets the key to
// clamd's limit and reloads the daemon (scan.* is reloaded live).
func TestHintsFollowedFixScanConfig(t *testing.T) {
	t.Parallel()
	cl := harness.StartClamd(t, harness.ClamdOptions{StreamMaxLength: "1M"})
	e := harness.NewServeEnv(t, harness.ServeOpts{Extra: fmt.Sprintf("[scan.clamd]\naddress = %q\nconfig = %q\n", cl.Addr, cl.Conf())})
	doctor := func() (string, bool) { return harness.DoctorLines(t, e.Conf, "scan.clamd.max_size") }
	out, ok := doctor()
	if ok {
		t.Fatal("doctor does not compare scan.clamd.max_size with StreamMaxLength")
	}
	reloaded := 0
	f := &harness.HintFollower{T: t, Daemon: func(action string) {
		if action != "reload" {
			t.Fatalf("the fix says %s, a reload does", action)
		}
		reloaded++
		e.Signal(syscall.SIGHUP)
	}}
	before := harness.Observe(t, f, e.Dir)
	harness.FollowUntilFixed(t, f, doctor, out)
	before.NotWorse(t, harness.Observe(t, f, e.Dir), e.User, f.Done)
	if reloaded > 0 {
		harness.WaitLogFile(t, e.LogPath, "configuration reloaded", 1, 10*time.Second)
	}
	if strings.Contains(e.Log(), "setting changed but needs a restart") {
		t.Errorf("the fix said reload, and the daemon wants a restart:\n%s", e.Log())
	}
}
