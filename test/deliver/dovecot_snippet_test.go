package deliver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// The Dovecot snippet ebb prints, applied as doctor's fix says, to a real
// Dovecot laid out as Debian's (dovecot.conf including conf.d/*.conf),
// whose own configuration reads ebb's directory through an SQL file
// outside /etc/dovecot but opens the Maildirs as nobody and runs its auth
// worker as another user: doctor fails with the fix "install ebb's
// snippet … then reload Dovecot"; followed literally (the files written as
// the fix writes them, the reload as it says), doctor passes, alice logs
// in, and Dovecot reads the message ebb delivered. Doctor then suggests
// nothing (it does not ask for what is set).
func TestHintsFollowedDovecotSnippet(t *testing.T) {
	t.Parallel()
	e, ddir := harness.NewDovecotServeEnv(t)
	main := filepath.Join(ddir, "dovecot.conf")
	for _, s := range []string{"run", "state", "conf.d"} {
		os.MkdirAll(filepath.Join(ddir, s), 0o755)
	}
	// The administrator's own configuration: ebb's SQL file (where this
	// Dovecot keeps it, not /etc/dovecot), the wrong mail user, and an
	// auth worker that is not ebb's mail user.
	sqlConf := filepath.Join(ddir, "ebb-sql.conf.ext")
	os.WriteFile(sqlConf, []byte(harness.EbbAs(t, e.User, nil, "dovecot", "sql", "-c", e.Conf).Stdout), 0o640)
	os.WriteFile(filepath.Join(ddir, "conf.d", "20-mine.conf"), []byte(fmt.Sprintf(`mail_location = maildir:~/Maildir
mail_uid = nobody
mail_gid = nogroup
passdb {
  driver = sql
  args = %[1]s
}
userdb {
  driver = sql
  args = %[1]s
}
service auth-worker {
  user = nobody
}
`, sqlConf)), 0o644)
	port := harness.FreePort(t)
	imap := fmt.Sprintf("127.0.0.1:%d", port)
	os.WriteFile(main, []byte(harness.DovecotHead(fmt.Sprintf("ebbsnip-%d", port), ddir, "imap")+
		"ssl = no\nauth_mechanisms = plain login\n"+
		harness.DovecotService("imap-login", harness.DovecotInet{Name: "imap", Port: port})+
		"!include conf.d/*.conf\n"), 0o644)
	dc := harness.StartDovecotConf(t, ddir, main, imap)

	if r := harness.Swaks(t, "--server", e.SMTP, "--from", "sender@example.org", "--to", "alice@example.test",
		"--h-Subject", "through ebb, read by Dovecot"); r.Code != 0 {
		t.Fatalf("swaks: %d %s", r.Code, r.Stdout)
	}
	e.WaitCount("alice", 1, 30*time.Second)

	// The dovecot check's lines ("FAIL  dovecot  …"); the temp dirs' names
	// hold the test's name.
	doctor := func() (string, bool) { return harness.DoctorLines(t, e.Conf, "  dovecot  ") }
	out, ok := doctor()
	if ok || !strings.Contains(out, `Dovecot's mail_uid is "nobody"`) || !strings.Contains(out, "nobody (uid 65534), Dovecot's auth worker, cannot read it") {
		t.Fatalf("doctor does not see Dovecot's mail_uid:\n%s", out)
	}
	for _, w := range []string{"--sql-conf " + sqlConf, "doveadm -c " + main + " reload", filepath.Join(ddir, "conf.d", "99-ebb.conf")} {
		if !strings.Contains(out, w) {
			t.Errorf("the fix lacks %q:\n%s", w, out)
		}
	}
	// The fix's commands run as an administrator's shell runs them: ebb
	// on the PATH.
	bin := filepath.Join(harness.Dir(t), "bin")
	os.MkdirAll(bin, 0o755)
	if err := os.Symlink(harness.Ebb(t), filepath.Join(bin, "ebb")); err != nil {
		t.Fatal(err)
	}
	f := &harness.HintFollower{T: t, Ns: func(args ...string) *exec.Cmd {
		c := exec.Command(args[0], args[1:]...)
		c.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		return c
	}}
	before := harness.Observe(t, f, e.Dir)
	harness.FollowUntilFixed(t, f, doctor, out)
	before.NotWorse(t, harness.Observe(t, f, e.Dir), e.User, f.Done)

	// Dovecot, reloaded as the fix said, serves what ebb delivered.
	waitLogin(t, imap, dc, true, fmt.Sprintf("after following %q", f.Done))
	alice := harness.DialIMAP(t, imap, "alice@example.test", "alice-pw")
	got, err := alice.FetchAll("INBOX")
	if err != nil || len(got) != 1 || !strings.Contains(string(got[0].Body), "Subject: through ebb, read by Dovecot") {
		t.Fatalf("INBOX through Dovecot after the fix: %d messages, %v\n%s", len(got), err, dc.Log())
	}
	// What the snippet set is not asked for again.
	dovecotDoctor(t, e.Conf, []string{"Dovecot opens the Maildirs as uid " + fmt.Sprint(e.User.UID), "auth worker (" + e.User.Name}, "")

	// An SQL file that is not what this ebb prints (an older ebb's, here
	// one whose password query finds nobody): logins fail, doctor says
	// so, and its fix (write the file again, reload Dovecot) followed
	// literally lets alice in again.
	b, _ := os.ReadFile(sqlConf)
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "password_query = ") {
			l += " AND 1 = 0"
		}
		lines = append(lines, l)
	}
	os.WriteFile(sqlConf, []byte(strings.Join(lines, "\n")), 0o640)
	if r := harness.Run(t, exec.Command("doveadm", "-c", main, "reload"), nil); r.Code != 0 {
		t.Fatalf("doveadm reload: %s", r.Stderr)
	}
	waitLogin(t, imap, dc, false, "with a password query that finds nobody")
	out, ok = doctor()
	if ok || !strings.Contains(out, "differs from what ebb dovecot sql prints now") {
		t.Fatalf("doctor does not see the SQL file that is not ebb's:\n%s", out)
	}
	harness.FollowUntilFixed(t, f, doctor, out)
	before.NotWorse(t, harness.Observe(t, f, e.Dir), e.User, f.Done)
	waitLogin(t, imap, dc, true, fmt.Sprintf("after following %q", f.Done))
}

// waitLogin waits until alice's login to Dovecot works (or, !works, is
// refused): Dovecot tells no one when a reload has taken, so it is asked
// again every 200 ms (each login checks the password's argon2 hash).
func waitLogin(t *testing.T, imap string, dc *harness.Dovecot, works bool, after string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := harness.ImapLogin(imap, "127.0.0.30", "alice@example.test", "alice-pw")
		if (err == nil) == works {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Dovecot login %s: %v (want it to work: %v)\n%s", after, err, works, dc.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
