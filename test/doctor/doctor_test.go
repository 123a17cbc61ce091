package doctor

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// deliveryCheckNames are the checks of issue 2; other areas add their own, whose
// verdicts depend on paths outside these tests (e.g. the pickup directory).
var deliveryCheckNames = []string{"server.user", "mail.root", "maildir", "mail.space", "tmp"}

// mailLines returns the output lines of the mail checks with that status
// prefix (ok, WARN, FAIL).
func mailLines(out, status string) []string {
	var r []string
	for _, l := range findLines(out, status) {
		f := strings.Fields(l)
		if len(f) > 1 && harness.HasString(deliveryCheckNames, f[1]) {
			r = append(r, l)
		}
	}
	return r
}

// exitMatches pins the exit rule: 1 when any check failed, else 0.
func exitMatches(t *testing.T, r harness.Result) {
	t.Helper()
	want := 0
	if len(findLines(r.Stdout, "FAIL")) > 0 {
		want = 1
	}
	if r.Code != want {
		t.Errorf("exit %d with %d FAIL lines, want %d\n%s", r.Code, len(findLines(r.Stdout, "FAIL")), want, r.Stdout)
	}
}

// lines returns the output lines that start with prefix.
func findLines(out, prefix string) []string {
	var r []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			r = append(r, l)
		}
	}
	return r
}

// ebb doctor reports the story's problem before any mail arrives, in the
// same words ebb deliver uses when the mail does arrive: run as root it
// probes as server.user (root ignores modes; the probe would pass).
func TestDoctorFindsTheStoryBeforeMailArrives(t *testing.T) {
	t.Parallel()
	m := harness.NewMailEnv(t, "")
	m.AddMailboxes("example.com", []string{"alice", "bob"}, nil)
	m.Maildir(m.BoxOf("bob", "example.com"))
	box := m.Maildir(m.BoxOf("alice", "example.com"))
	tmp := filepath.Join(box, "tmp")
	os.Chown(tmp, 0, 0)
	os.Chmod(tmp, 0o700)

	for _, asUser := range []bool{false, true} {
		t.Run(fmt.Sprintf("as user %v", asUser), func(t *testing.T) {
			r := m.Doctor(asUser)
			if r.Code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			fails := mailLines(r.Stdout, "FAIL")
			if len(fails) != 1 {
				t.Fatalf("want exactly one FAIL line:\n%s", r.Stdout)
			}
			d := m.Deliver(harness.ExactMessage(8192), "-d", "alice@example.com")
			if d.Code != 75 {
				t.Fatalf("deliver: exit %d %s", d.Code, d.Stderr)
			}
			want := strings.TrimPrefix(harness.OneLine(t, d.Stderr), "ebb deliver: ")
			// The same sentence, but doctor does not send its reader to
			// doctor ("then check: ebb doctor -c FILE" ends only deliver's).
			want = strings.TrimSuffix(want, "; then check: ebb doctor -c "+m.Conf)
			if !strings.HasSuffix(fails[0], "ebb doctor: "+want) {
				t.Errorf("doctor and deliver disagree:\ndoctor:  %s\ndeliver: ebb deliver: %s", fails[0], want)
			}
			if !strings.Contains(want, fmt.Sprintf("running as uid %d %s", m.User.UID, m.User.Name)) {
				t.Errorf("the sentence does not name the delivery user: %s", want)
			}
			if len(findLines(r.Stdout, "ok    maildir")) != 1 {
				t.Errorf("bob's healthy Maildir is not reported ok:\n%s", r.Stdout)
			}
		})
	}

	// The same as JSON, with the fields a program needs.
	r := m.Doctor(false, "--json")
	var doc struct {
		Failed   bool
		Findings []struct {
			Check, Status string
			Error         *struct {
				Errno, Path, Hint string
				Who               struct{ UID int }
				Found             struct {
					Owner string
					Mode  uint32
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.Stdout)
	}
	if r.Code != 1 || !doc.Failed {
		t.Errorf("--json: exit %d failed=%v", r.Code, doc.Failed)
	}
	found := false
	for _, f := range doc.Findings {
		if f.Status == "fail" && f.Check == "maildir" && f.Error != nil {
			found = true
			e := f.Error
			if e.Errno != "EACCES" || e.Path != tmp || e.Who.UID != m.User.UID || e.Found.Owner != "root" || e.Found.Mode != 0o700 || e.Hint == "" {
				t.Errorf("--json finding: %+v", *e)
			}
		}
	}
	if !found {
		t.Errorf("--json has no failure:\n%s", r.Stdout)
	}

	// Fixed: the mail checks pass.
	os.Chown(tmp, m.User.UID, m.User.GID)
	r = m.Doctor(false)
	if len(mailLines(r.Stdout, "FAIL")) != 0 {
		t.Errorf("after the fix:\n%s", r.Stdout)
	}
	exitMatches(t, r)
}

// Each kind of trouble is a FAIL (exit 1) or a WARN (exit 0) naming what
// and where.
func TestDoctorFindings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		extra  string // [mail] keys
		after  string // more config
		setup  func(m *harness.MailEnv)
		code   int
		status string // FAIL or WARN
		says   []string
	}{
		{"healthy", "", "", func(m *harness.MailEnv) { m.Maildir(m.BoxOf("alice", "example.com")) }, 0, "ok", []string{"ok    maildir", "ok    mail.root", "ok    tmp"}},
		{"Maildir lacks new/", "", "", func(m *harness.MailEnv) {
			box := m.Maildir(m.BoxOf("alice", "example.com"))
			os.Remove(filepath.Join(box, "new"))
		}, 1, "FAIL", []string{"lacks new/", "Fix: run: install -d -o "}},
		{"mail.root not writable", "", "", func(m *harness.MailEnv) { os.Chown(m.Root, 0, 0) }, 1, "FAIL", []string{"cannot create a file in", "mail.root", "root:root 0755"}},
		{"mail.root missing", "", "", func(m *harness.MailEnv) { os.RemoveAll(m.Root) }, 1, "FAIL", []string{"mail.root", "no such file or directory"}},
		{"new/ not writable", "", "", func(m *harness.MailEnv) {
			box := m.Maildir(m.BoxOf("alice", "example.com"))
			os.Chown(filepath.Join(box, "new"), 0, 0)
		}, 1, "FAIL", []string{"cannot create a file in", "/new: permission denied"}},
		{"Maildir owned by someone else", "", "", func(m *harness.MailEnv) {
			box := m.Maildir(m.BoxOf("alice", "example.com"))
			os.Chown(box, 0, 0)
			os.Chmod(box, 0o755) // tmp/, new/, cur/ stay the user's: delivery works
		}, 0, "WARN", []string{"not owned by ebbtest", "chown -R"}},
		{"Maildir open to other users", "", "", func(m *harness.MailEnv) {
			box := m.Maildir(m.BoxOf("alice", "example.com"))
			os.Chmod(filepath.Join(box, "new"), 0o777)
		}, 0, "WARN", []string{"other users may read or change the mail here (mode 0777)", "chmod o-rwx"}},
		{"little free space", "", "[doctor]\nmin_free = \"1000T\"\nmin_free_inodes = 9000000000\n", nil, 0, "WARN", []string{"below doctor.min_free", "below doctor.min_free_inodes"}},
		{"no such server.user", "", "", func(m *harness.MailEnv) {
			c, _ := os.ReadFile(m.Conf)
			os.WriteFile(m.Conf, []byte(strings.Replace(string(c), `user = "ebbtest"`, `user = "no-such-ebb-user"`, 1)), 0o644)
		}, 1, "FAIL", []string{"no such user", "run: adduser --system --group --no-create-home --home /nonexistent no-such-ebb-user"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := harness.NewMailEnv(t, c.extra)
			if c.after != "" {
				f, _ := os.OpenFile(m.Conf, os.O_APPEND|os.O_WRONLY, 0)
				f.WriteString(c.after)
				f.Close()
			}
			if c.setup != nil {
				c.setup(m)
			}
			r := m.Doctor(false)
			exitMatches(t, r)
			if c.code == 1 && r.Code != 1 {
				t.Errorf("exit %d, want 1\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			if c.code == 0 && len(mailLines(r.Stdout, "FAIL")) > 0 {
				t.Errorf("a mail check failed:\n%s", r.Stdout)
			}
			for _, s := range c.says {
				if !strings.Contains(r.Stdout, s) {
					t.Errorf("output lacks %q:\n%s", s, r.Stdout)
				}
			}
			if c.status != "ok" && len(mailLines(r.Stdout, c.status)) == 0 {
				t.Errorf("no %s line:\n%s", c.status, r.Stdout)
			}
		})
	}
}

// A /tmp that is not 1777 is a warning (ebb does not use it; maildrop and
// others do). Tested in a private mount namespace, so the host's /tmp is
// untouched.
func TestDoctorWarnsAboutTmp(t *testing.T) {
	t.Parallel()
	m := harness.NewMailEnv(t, "")
	bin := filepath.Join(m.Dir, "ebb")
	harness.CopyExecutable(t, m.Ebb, bin)
	script := `set -e
mount --bind "$KEEP" /mnt
mount -t tmpfs -o mode=0755,size=1m ebb-no-tmp /tmp
mkdir -p "$KEEP"
mount --bind /mnt "$KEEP"
exec "$@"`
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", bin, "doctor", "-c", m.Conf)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "KEEP=" + m.Dir}
	r := harness.Run(t, cmd, nil)
	exitMatches(t, r) // a warning is not a failure
	if len(mailLines(r.Stdout, "FAIL")) > 0 {
		t.Errorf("a mail check failed:\n%s", r.Stdout)
	}
	w := findLines(r.Stdout, "WARN  tmp")
	if len(w) != 1 || !strings.Contains(w[0], "0755") || !strings.Contains(w[0], "restore the system's own mode for /tmp (1777") || strings.Contains(w[0], "chmod") {
		t.Errorf("no /tmp warning with mode and fix:\n%s", r.Stdout)
	}
}
