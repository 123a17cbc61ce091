package deliver

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Dovecot with exactly what `ebb dovecot config` and `ebb dovecot sql`
// print, on ebb's SQLite and PostgreSQL directories: logins with the
// passwords ebb stores (argon2id from ebb user add, an imported
// SHA512-CRYPT), refusals (wrong password, disabled mailbox, alias), the
// message ebb delivered in INBOX, ebb's quota, and a ManageSieve upload
// that ebb's next delivery follows.
func TestDovecotOnEbbDirectory(t *testing.T) {
	t.Parallel()
	harness.RequireRoot(t)
	harness.Install(t, "dovecot-core", "dovecot-imapd", "dovecot-sqlite", "dovecot-pgsql", "dovecot-managesieved", "sieve-connect")
	// Each its own ebb, Dovecot, ports and directory: side by side.
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); testDovecotOnEbb(t, "") })
	t.Run("postgresql", func(t *testing.T) {
		t.Parallel()
		pg := harness.SharedPostgres(t)
		testDovecotOnEbb(t, pg.NewDatabase(t))
	})
}

func testDovecotOnEbb(t *testing.T, dsn string) {
	ddir := harness.Dir(t)
	extra := fmt.Sprintf("[doctor]\ndovecot_config = %q\n[directory]\nargon2_memory = \"16M\"\n", filepath.Join(ddir, "dovecot.conf"))
	if dsn != "" {
		extra += fmt.Sprintf("dsn = %q\n", dsn)
	}
	e := harness.NewServeEnv(t, harness.ServeOpts{Extra: extra})
	// ServeEnv made alice and bob without passwords; give alice one as an
	// administrator would, and add the other cases.
	e.EbbAs(t, []byte("alice-pw\n"), "user", "passwd", "-c", e.Conf, "alice@example.test")
	e.EbbAs(t, nil, "user", "quota", "-c", e.Conf, "alice@example.test", "10M", "500")
	e.EbbAs(t, []byte("dave-pw\n"), "user", "add", "-c", e.Conf, "--disabled", "dave@example.test")
	e.EbbAs(t, nil, "domain", "add", "-c", e.Conf, "alias.test", "--alias-of", "example.test")
	e.EbbAs(t, nil, "alias", "add", "-c", e.Conf, "info@example.test", "alice@example.test")
	hash := strings.TrimSpace(harness.Run(t, exec.Command("doveadm", "pw", "-s", "SHA512-CRYPT", "-p", "carol-pw"), nil).Stdout)
	if !strings.HasPrefix(hash, "{SHA512-CRYPT}$6$") {
		t.Fatalf("doveadm pw printed %q", hash)
	}
	imp := filepath.Join(e.Dir, "import.passwd")
	os.WriteFile(imp, []byte("carol@example.test:"+hash+"::::::\n"), 0o644)
	e.EbbAs(t, nil, "import", "dovecot-passwd", imp, "-c", e.Conf)
	// A clear-text entry, imported while directory.allow_plain was on;
	// with it off again ebb refuses it at login, and so must Dovecot.
	c, _ := os.ReadFile(e.Conf)
	plainConf := filepath.Join(e.Dir, "allow-plain.toml")
	os.WriteFile(plainConf, []byte(strings.Replace(string(c), "[directory]\n", "[directory]\nallow_plain = true\n", 1)), 0o644)
	os.WriteFile(imp, []byte("erin@example.test:{PLAIN}erin-pw::::::\n"), 0o644)
	e.EbbAs(t, nil, "import", "dovecot-passwd", imp, "-c", plainConf)

	d := harness.StartDovecotOnEbb(t, e, ddir)

	logins := []struct {
		name, user, pass string
		ok               bool
	}{
		{"argon2id from ebb user passwd", "alice@example.test", "alice-pw", true},
		{"case does not matter", "Alice@EXAMPLE.test", "alice-pw", true},
		{"a domain alias logs in to the target's mailbox", "alice@alias.test", "alice-pw", true},
		{"imported SHA512-CRYPT", "carol@example.test", "carol-pw", true},
		{"wrong password", "alice@example.test", "wrong", false},
		{"disabled mailbox", "dave@example.test", "dave-pw", false},
		{"mailbox without a password", "bob@example.test", "", false},
		{"an alias is not a login", "info@example.test", "alice-pw", false},
		{"{PLAIN} while directory.allow_plain is off", "erin@example.test", "erin-pw", false},
	}
	// Each from its own source address: Dovecot's auth penalty grows per
	// client IP and would make the later failures take seconds.
	for i, l := range logins {
		if err := harness.ImapLogin(d.Imap, fmt.Sprintf("127.0.0.%d", 10+i), l.user, l.pass); (err == nil) != l.ok {
			t.Errorf("%s: IMAP LOGIN %s: %v, want ok=%v", l.name, l.user, err, l.ok)
		}
	}

	// ebb doctor sees Dovecot reading ebb's directory and Maildirs right;
	// and a Dovecot that would open them as another user fails.
	want := []string{"Dovecot opens the Maildirs as uid " + fmt.Sprint(e.User.UID)}
	if dsn == "" {
		want = append(want, "auth worker ("+e.User.Name)
	} else {
		want = append(want, "query ebb's PostgreSQL directory")
	}
	dovecotDoctor(t, e.Conf, want, "")
	wrong := filepath.Join(ddir, "wrong-uid.conf")
	b, _ := os.ReadFile(filepath.Join(ddir, "dovecot.conf"))
	os.WriteFile(wrong, append(b, "mail_uid = nobody\n"...), 0o644)
	wrongConf := filepath.Join(ddir, "ebb-wrong.toml")
	c, _ = os.ReadFile(e.Conf)
	os.WriteFile(wrongConf, []byte(strings.Replace(string(c), filepath.Join(ddir, "dovecot.conf"), wrong, 1)), 0o644)
	dovecotDoctor(t, wrongConf, nil, `Dovecot's mail_uid is "nobody"`)

	// The message ebb delivers is in INBOX, seen through Dovecot.
	if r := harness.Swaks(t, "--server", e.SMTP, "--from", "sender@example.org", "--to", "alice@example.test",
		"--h-Subject", "through ebb"); r.Code != 0 {
		t.Fatalf("swaks: %d %s", r.Code, r.Stdout)
	}
	e.WaitCount("alice", 1, 15*time.Second)
	alice := harness.DialIMAP(t, d.Imap, "alice@example.test", "alice-pw")
	got, err := alice.FetchAll("INBOX")
	if err != nil || len(got) != 1 || !strings.Contains(string(got[0].Body), "Subject: through ebb") {
		t.Fatalf("INBOX through Dovecot: %d messages, %v\n%s", len(got), err, d.Dc.Log())
	}
	// The quota Dovecot reports is ebb's: 10M = 10240 KiB, 500 messages.
	rs, err := alice.Cmd("GETQUOTAROOT INBOX")
	if err != nil {
		t.Fatalf("GETQUOTAROOT: %v", err)
	}
	var quota string
	for _, r := range rs {
		if strings.HasPrefix(r.Line, "* QUOTA ") {
			quota = r.Line
		}
	}
	if !strings.Contains(quota, " 10240") || !strings.Contains(quota, "MESSAGE 1 500") {
		t.Errorf("Dovecot's quota %q, want STORAGE limit 10240 KiB and MESSAGE 1 500 (ebb user quota 10M 500)", quota)
	}

	// ManageSieve: alice uploads and activates a script; ebb's next
	// delivery files by it.
	script := filepath.Join(e.Dir, "sort.sieve")
	os.WriteFile(script, []byte("require \"fileinto\";\nif header :contains \"subject\" \"sorted\" { fileinto \"Sorted\"; stop; }\n"), 0o644)
	for _, args := range [][]string{
		{"--upload", "--localsieve", script, "--remotesieve", "sort"},
		{"--activate", "--remotesieve", "sort"},
	} {
		cmd := exec.Command("sieve-connect", append([]string{"--server", "127.0.0.1", "--port", strings.Split(d.Sieve, ":")[1],
			"--user", "alice@example.test", "--passwordfd", "0", "--authmech", "PLAIN", "--clearchan",
			"--nosrv"}, args...)...) // the server is given: no SRV lookup of _sieve._tcp.127.0.0.1 at the host's resolver
		if r := harness.Run(t, cmd, []byte("alice-pw\n")); r.Code != 0 {
			t.Fatalf("sieve-connect %v: exit %d\n%s%s\n%s", args, r.Code, r.Stdout, r.Stderr, d.Dc.Log())
		}
	}
	home := filepath.Join(e.Dir, "mail", "example.test", "alice")
	if target, err := os.Readlink(filepath.Join(home, ".dovecot.sieve")); err != nil || !strings.Contains(target, "sort.sieve") {
		t.Fatalf("ManageSieve did not activate ~/.dovecot.sieve where ebb reads it: %q %v", target, err)
	}
	if r := harness.Swaks(t, "--server", e.SMTP, "--from", "sender@example.org", "--to", "alice@example.test",
		"--h-Subject", "to be sorted"); r.Code != 0 {
		t.Fatalf("swaks: %d %s", r.Code, r.Stdout)
	}
	if sorted := filepath.Join(home, "Maildir", ".Sorted", "new"); !harness.WaitFiles(sorted, 1, 15*time.Second) {
		ents, _ := os.ReadDir(sorted)
		t.Fatalf("ebb did not file the message by the ManageSieve script (%d in .Sorted/new)\n%s", len(ents), e.Log())
	}
	alice2 := harness.DialIMAP(t, d.Imap, "alice@example.test", "alice-pw")
	if got, err := alice2.FetchAll("Sorted"); err != nil || len(got) != 1 {
		t.Errorf("Dovecot's Sorted folder: %d messages, %v", len(got), err)
	}
}

// dovecotDoctor runs ebb doctor as root and checks its "dovecot" findings:
// all ok with each of want, or one failing with fail.
func dovecotDoctor(t *testing.T, conf string, want []string, fail string) {
	t.Helper()
	r := harness.Run(t, exec.Command(harness.Ebb(t), "doctor", "-c", conf, "--json"), nil)
	var report struct {
		Findings []struct{ Check, Status, Message string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &report); err != nil {
		t.Fatalf("ebb doctor --json: %v\n%s%s", err, r.Stdout, r.Stderr)
	}
	var got []string
	failed := false
	for _, f := range report.Findings {
		if f.Check != "dovecot" {
			continue
		}
		got = append(got, f.Status+": "+f.Message)
		if fail != "" && f.Status == "fail" && strings.Contains(f.Message, fail) {
			failed = true
		}
		if fail == "" && f.Status != "ok" {
			t.Errorf("doctor: %s %s", f.Status, f.Message)
		}
	}
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("doctor's dovecot findings lack %q:\n%s", w, all)
		}
	}
	if fail != "" && !failed {
		t.Errorf("doctor's dovecot findings lack a failure %q:\n%s", fail, all)
	}
}
