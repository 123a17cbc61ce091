package doctor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// ordinaryUser is a login account (uid ≥ 1000, not a system account like
// the mail user), created when missing: the newbie of the issue.
func ordinaryUser(t *testing.T) harness.User {
	t.Helper()
	harness.RequireRoot(t)
	return harness.EnsureLoginUser(t, "ebbnewbie")
}

// Hints as an ordinary user, followed as the issue asks (issue 21): a
// config file the caller may not read gets words only ("ask an
// administrator"), never a command that would widen it (the old hint for
// `ebb sendmail -C /etc/shadow` was chown ebbtest:ebbtest /etc/shadow), so
// following it changes nothing; a state directory below /var/lib gets a
// directory of ebb's own, made by the administrator the fix speaks to: run
// as root in a mount namespace whose /var is an overlay, /var/lib keeps its
// owner and mode and the administrator's ebb domain add then works.
func TestHintsToAnOrdinaryUserAreSafe(t *testing.T) {
	t.Parallel()
	u := ordinaryUser(t)
	mail := harness.Unprivileged(t)
	dir := harness.Dir(t)
	os.Chmod(dir, 0o755)
	secret := filepath.Join(dir, "daemon.toml")
	os.WriteFile(secret, []byte("[relay]\n# credentials live here\n"), 0o600)
	conf := filepath.Join(dir, "ebb.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf("[server]\nhostname = \"mx.example.test\"\nuser = %q\ndata_dir = \"/var/lib/ebb-hint-test-missing\"\n", mail.Name)), 0o644)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"sendmail -C /etc/shadow", []string{"sendmail", "-C", "/etc/shadow", "-i", "x@example.test"},
			"Fix: /etc/shadow holds secrets, so its access is not widened: ask an administrator"},
		{"sendmail -C the daemon's config", []string{"sendmail", "-C", secret, "-i", "x@example.test"},
			"holds secrets, so its access is not widened: ask an administrator, or run the command as the mail user"},
		{"doctor -c the daemon's config", []string{"doctor", "-c", secret}, "holds secrets"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &harness.HintFollower{T: t}
			before := harness.Observe(t, f, dir)
			shadow := harness.DescribeOwner(t, "/etc/shadow")
			cmd := harness.AsUser(exec.Command(harness.Ebb(t), c.args...), u)
			cmd.Dir = dir
			r := harness.Run(t, cmd, nil)
			out := r.Stdout + r.Stderr
			if r.Code == 0 || !strings.Contains(out, c.want) {
				t.Fatalf("exit %d, want a refusal with %q:\n%s", r.Code, c.want, out)
			}
			// Nothing in it can be run: a step in words, for a person.
			fix := harness.FixOf(t, out)
			for _, m := range harness.StepMarkers {
				if strings.Contains(fix, m) {
					t.Errorf("the fix to an ordinary user has a step to run (%q): %s", m, fix)
				}
			}
			before.NotWorse(t, harness.Observe(t, f, dir), mail, nil)
			if got := harness.DescribeOwner(t, "/etc/shadow"); got != shadow {
				t.Errorf("/etc/shadow changed: %s, was %s", got, shadow)
			}
		})
	}
	t.Run("domain add with data_dir below /var/lib", func(t *testing.T) {
		ns := newMountNamespace(t)
		add := func(as *harness.User) (string, bool) {
			args := []string{harness.Ebb(t), "domain", "add", "-c", conf, "example.test"}
			if as != nil {
				args = append([]string{"setpriv", fmt.Sprintf("--reuid=%d", as.UID), fmt.Sprintf("--regid=%d", as.GID), "--clear-groups"}, args...)
			}
			r := harness.Run(t, ns.command(args...), nil)
			return r.Stdout + r.Stderr, r.Code == 0
		}
		out, ok := add(&u)
		if ok || !strings.Contains(out, "/var/lib is shared by the system, never to be given to ebb") {
			t.Fatalf("an ordinary user's domain add below /var/lib:\n%s", out)
		}
		f := &harness.HintFollower{T: t, Ns: ns.command}
		before := harness.Observe(t, f, dir)
		// The fix speaks to the administrator: root follows it, and root's
		// ebb domain add (which makes the database for the mail user) works.
		harness.FollowUntilFixed(t, f, func() (string, bool) { return add(nil) }, out)
		before.NotWorse(t, harness.Observe(t, f, dir), mail, f.Done)
		r := harness.Run(t, ns.command("stat", "-c", "%U", "/var/lib/ebb-hint-test-missing/directory.db"), nil)
		if strings.TrimSpace(r.Stdout) != mail.Name {
			t.Errorf("the database belongs to %q, want the mail user %s", r.Stdout, mail.Name)
		}
		if _, err := os.Stat("/var/lib/ebb-hint-test-missing"); err == nil {
			t.Error("the host's /var/lib was changed: the fix ran outside the namespace")
		}
	})
}

// An ordinary login running ebb doctor or ebb user list on a healthy
// server, with ebb serve running: the mail user's own directories are as
// they should be, so no fix may tell it to point a setting elsewhere (a
// new, empty spool or directory) or to stop what listens on ebb's own
// port (it cannot tell that it is ebb serve): it is told to run the
// command as root or as the mail user, which then works.
func TestAnOrdinaryUserIsNotToldToMoveTheMailUsersDirectories(t *testing.T) {
	t.Parallel()
	u := ordinaryUser(t)
	e := harness.NewQueueEnv(t, "")
	os.Chmod(e.Dir, 0o755)
	e.Start()
	as := func(who harness.User, args ...string) harness.Result {
		return harness.Run(t, harness.AsUser(exec.Command(harness.Ebb(t), args...), who), nil)
	}
	doctor := as(u, "doctor", "-c", e.Conf)
	list := as(u, "user", "list", "-c", e.Conf)
	out := doctor.Stdout + doctor.Stderr + list.Stdout + list.Stderr
	for _, bad := range []string{"at a directory of", "stop it or change"} {
		if strings.Contains(out, bad) {
			t.Errorf("an ordinary user is told %q:\n%s", bad, out)
		}
	}
	if list.Code == 0 || !strings.Contains(list.Stderr, "belongs to "+e.User.Name+", the mail user (server.user), as it should") ||
		!strings.Contains(list.Stderr, "run the command as root or as "+e.User.Name) {
		t.Errorf("ebb user list as %s: exit %d %s", u.Name, list.Code, list.Stderr)
	}
	// Followed: as the mail user (and as root) it works.
	if r := as(e.User, "user", "list", "-c", e.Conf); r.Code != 0 || !strings.Contains(r.Stdout, "bob@example.test") {
		t.Errorf("ebb user list as %s: exit %d %s%s", e.User.Name, r.Code, r.Stdout, r.Stderr)
	}
	if r := e.Ebb("doctor", "-c", e.Conf); strings.Contains(r.Stdout, "FAIL  smtp.listen") || strings.Contains(r.Stdout, "FAIL  queue.spool") {
		t.Errorf("doctor as root:\n%s", r.Stdout)
	}
}
