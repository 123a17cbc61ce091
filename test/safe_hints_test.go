package test

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// ordinaryUser is a login account (uid ≥ 1000, not a system account like
// the mail user), created when missing: the newbie of the issue.
func ordinaryUser(t *testing.T) harness.User {
	t.Helper()
	harness.RequireRoot(t)
	const name = "ebbnewbie"
	if _, err := user.Lookup(name); err != nil {
		out, err := exec.Command("useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "already exists") {
			t.Fatalf("useradd %s: %v: %s", name, err, out)
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return harness.User{Name: name, UID: uid, GID: gid}
}

// unsafeChange finds a chown/chmod/chgrp of a path the hint must never
// hand over.
var unsafeChange = regexp.MustCompile(`\b(chown|chmod|chgrp)\s+\S*\s*(/etc\S*|/var/lib\b|/var/mail\b|/tmp\b|/\s|\S+\.toml)`)

// Hints as an ordinary user: a config file the caller may not read is
// "ask an administrator", never "chown it to yourself" (the old hint for
// `ebb sendmail -C /etc/shadow` was chown ebbtest:ebbtest /etc/shadow); a
// state directory below /var/lib is "make one of ebb's own", never a chown
// of /var/lib.
func TestHintsToAnOrdinaryUserAreSafe(t *testing.T) {
	u := ordinaryUser(t)
	dir := harness.Dir(t)
	os.Chmod(dir, 0o755)
	secret := filepath.Join(dir, "daemon.toml")
	os.WriteFile(secret, []byte("[relay]\n# credentials live here\n"), 0o600)
	conf := filepath.Join(dir, "ebb.toml")
	os.WriteFile(conf, []byte("[server]\nhostname = \"mx.example.test\"\ndata_dir = \"/var/lib/ebb-hint-test-missing\"\n"), 0o644)
	t.Cleanup(func() { os.RemoveAll("/var/lib/ebb-hint-test-missing") })
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"sendmail -C /etc/shadow", []string{"sendmail", "-C", "/etc/shadow", "-i", "x@example.test"},
			[]string{"cannot read the config file /etc/shadow: permission denied", "its access is not widened: ask an administrator"}},
		{"sendmail -C the daemon's config", []string{"sendmail", "-C", secret, "-i", "x@example.test"},
			[]string{"holds secrets, so its access is not widened: ask an administrator, or run the command as the mail user"}},
		{"doctor -c the daemon's config", []string{"doctor", "-c", secret},
			[]string{"holds secrets"}},
		{"domain add with data_dir below /var/lib", []string{"domain", "add", "-c", conf, "example.test"},
			[]string{"/var/lib is shared by the system, never to be given to ebb", "give ebb a directory of its own: run: install -d -o vmail -g vmail -m 0750 /var/lib/ebb-hint-test-missing"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := harness.AsUser(exec.Command(harness.Ebb(t), c.args...), u)
			cmd.Dir = dir
			r := harness.Run(t, cmd, nil)
			out := r.Stdout + r.Stderr
			if r.Code == 0 {
				t.Fatalf("exit 0:\n%s", out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if m := unsafeChange.FindString(out); m != "" || strings.Contains(out, "chown "+u.Name) {
				t.Errorf("unsafe hint %q:\n%s", m, out)
			}
		})
	}
}
