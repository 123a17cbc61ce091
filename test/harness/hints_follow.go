package harness

import (
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ebbmail/ebb/internal/diag"
)

// HintFollower does what a "Fix:" says, in the grammar of
// internal/diag/fix.go, literally.
type HintFollower struct {
	T *testing.T
	// daemon does "start", "restart" or "reload" of the case's ebb serve.
	Daemon func(action string)
	// words are the steps in words a case knows how to do (freeing space
	// on a full filesystem is deleting a file, whatever the words).
	Words map[string]func()
	// ns runs a command inside the case's mount namespace (nil: here).
	Ns func(args ...string) *exec.Cmd
	// done records what was followed, for the failure messages.
	Done []string
}

// FixOf is the fix of the first line of out that has one.
func FixOf(t *testing.T, out string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, ". Fix: "); i >= 0 {
			fix := l[i+len(". Fix: "):]
			// What follows the sentence on its line: doctor's stand-in
			// mark, explain's ref.
			for _, tail := range []string{" [as nobody", " [ref "} {
				if j := strings.Index(fix, tail); j >= 0 {
					fix = fix[:j]
				}
			}
			return strings.TrimSpace(fix)
		}
	}
	t.Fatalf("no Fix: in the output:\n%s", out)
	return ""
}

// StepMarkers start a step that can be followed.
var StepMarkers = []string{"run as ", "run: ", "set ", "restart ebb serve", "reload ebb serve", "start ebb serve"}

// Follow does every step of fix, in order: the first way of several ("; or
// instead:"), then its check command.
func (f *HintFollower) follow(fix string) {
	f.T.Helper()
	if i := strings.Index(fix, "; or instead: "); i >= 0 {
		fix = fix[:i]
	}
	check := ""
	if i := strings.Index(fix, "; then check: "); i >= 0 {
		fix, check = fix[:i], fix[i+len("; then check: "):]
	} else if strings.HasPrefix(fix, "run: ebb doctor") {
		fix, check = "", strings.TrimPrefix(fix, "run: ")
	}
	for n, seg := range strings.Split(fix, "; then ") {
		if seg == "" {
			continue
		}
		step := seg
		if n == 0 {
			// "WHY: STEP": the step starts at a marker after ": ".
			at := -1
			for _, m := range StepMarkers {
				for i := 0; i >= 0 && i < len(seg); {
					j := strings.Index(seg[i:], m)
					if j < 0 {
						break
					}
					j += i
					if (j == 0 || strings.HasSuffix(seg[:j], ": ")) && (at < 0 || j < at) {
						at = j
						break
					}
					i = j + 1
				}
			}
			if at < 0 {
				f.say(seg)
				continue
			}
			step = seg[at:]
		}
		f.do(step)
	}
	if check != "" {
		// The check shows the whole picture; it may warn about what this
		// case does not set up, so only running it is followed.
		f.run("root", check)
	}
}

func (f *HintFollower) do(step string) {
	f.T.Helper()
	f.Done = append(f.Done, step)
	switch {
	case strings.HasPrefix(step, "run as "):
		who, cmd, _ := strings.Cut(strings.TrimPrefix(step, "run as "), ": ")
		f.mustRun(who, cmd)
	case strings.HasPrefix(step, "run: "):
		f.mustRun("root", strings.TrimPrefix(step, "run: "))
	case strings.HasPrefix(step, "set "):
		// set KEY = VALUE in FILE
		rest := strings.TrimPrefix(step, "set ")
		key, rest, ok1 := strings.Cut(rest, " = ")
		i := strings.LastIndex(rest, " in ")
		if !ok1 || i < 0 {
			f.T.Fatalf("cannot read the step %q", step)
		}
		SetTOML(f.T, rest[i+len(" in "):], key, rest[:i])
	case strings.HasPrefix(step, "restart ebb serve"), strings.HasPrefix(step, "reload ebb serve"), strings.HasPrefix(step, "start ebb serve"):
		if f.Daemon == nil {
			f.T.Fatalf("the fix says %q, and this case runs no daemon", step)
		}
		f.Daemon(strings.Fields(step)[0])
	default:
		f.say(step)
	}
}

// say is a step in words: followed only when the case knows how.
func (f *HintFollower) say(words string) {
	f.T.Helper()
	for w, do := range f.Words {
		if strings.Contains(words, w) {
			f.Done = append(f.Done, "("+w+")")
			do()
			return
		}
	}
	f.T.Fatalf("the fix cannot be followed literally: %q (followed so far: %q)", words, f.Done)
}

func (f *HintFollower) command(who, line string) *exec.Cmd {
	args := []string{"sh", "-c", line}
	if who != "root" {
		args = append([]string{"runuser", "-u", who, "--"}, args...)
	}
	if f.Ns != nil {
		return f.Ns(args...)
	}
	return exec.Command(args[0], args[1:]...)
}

func (f *HintFollower) run(who, line string) Result {
	f.T.Helper()
	return Run(f.T, f.command(who, line), nil)
}

func (f *HintFollower) mustRun(who, line string) {
	f.T.Helper()
	if r := f.run(who, line); r.Code != 0 {
		f.T.Fatalf("following the fix, %q as %s: exit %d\n%s%s", line, who, r.Code, r.Stdout, r.Stderr)
	}
}

// World is what a fix must not make worse.
type World struct {
	shared  map[string]string          // path → "uid:gid mode" of paths the system shares
	secrets map[string]map[string]bool // path → who can read it
}

// SharedPaths are paths the system shares (diag.IsSystemPath), and the
// test's own directory, which stands for the /srv or /var/lib a setting's
// directory sits in: a fix may change what is below, never these.
func SharedPaths(root string) []string {
	return []string{"/", "/tmp", "/var", "/var/mail", "/var/lib", "/var/spool", "/var/tmp", "/etc", "/srv", "/home", "/usr", "/usr/local", "/opt", "/run", root}
}

// Observe records the world: the shared paths (stat run in the case's
// namespace when it has one) and every secret below root.
func Observe(t *testing.T, f *HintFollower, root string) World {
	t.Helper()
	w := World{shared: map[string]string{}, secrets: map[string]map[string]bool{}}
	for _, p := range SharedPaths(root) {
		r := f.run("root", "stat -c '%u:%g %a' "+p)
		w.shared[p] = strings.TrimSpace(r.Stdout + r.Stderr)
	}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !diag.IsSecretPath(p, nil) {
			return nil
		}
		if fi, err := os.Stat(p); err == nil {
			w.secrets[p] = Readers(fi)
		}
		return nil
	})
	return w
}

// Readers is who may read a file by its mode: its owner, its group,
// everyone.
func Readers(fi os.FileInfo) map[string]bool {
	st := fi.Sys().(*syscall.Stat_t)
	m := fi.Mode().Perm()
	out := map[string]bool{}
	if m&0o400 != 0 {
		out["user:"+Uname(int(st.Uid))] = true
	}
	if m&0o040 != 0 {
		out["group:"+Gname(int(st.Gid))] = true
	}
	if m&0o004 != 0 {
		out["everyone"] = true
	}
	return out
}

// Uname is the name of user uid, or the number.
func Uname(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

// Gname is the name of group gid, or the number.
func Gname(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}

// NotWorse checks after against before: the shared paths as they were, and
// no secret readable by anyone new but the mail user (and its group).
func (before World) NotWorse(t *testing.T, after World, mail User, done []string) {
	t.Helper()
	for p, was := range before.shared {
		if after.shared[p] != was {
			t.Errorf("following %q changed %s, a path the system shares: %s, was %s", done, p, after.shared[p], was)
		}
	}
	allowed := map[string]bool{"user:" + mail.Name: true, "group:" + Gname(mail.GID): true, "user:root": true}
	for p, rs := range after.secrets {
		for r := range rs {
			if !before.secrets[p][r] && !allowed[r] && (before.secrets[p] != nil || r == "everyone") {
				t.Errorf("following %q made the secret %s readable by %s (before: %v)", done, p, r, Keys(before.secrets[p]))
			}
		}
	}
}

// Keys is m's keys, sorted.
func Keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// FollowUntilFixed follows the fix of out, tries the operation again, and
// follows the next fix it gives, as an administrator would, for a few
// rounds (a Maildir root copied in fails at tmp/, then at new/): each round
// Must get further, and the last must succeed.
func FollowUntilFixed(t *testing.T, f *HintFollower, try func() (string, bool), out string) {
	t.Helper()
	FollowWithin(t, f, try, out, 4)
}

// FollowWithin is FollowUntilFixed for at most rounds rounds (0: four).
func FollowWithin(t *testing.T, f *HintFollower, try func() (string, bool), out string, rounds int) {
	t.Helper()
	if rounds == 0 {
		rounds = 4
	}
	seen := map[string]bool{}
	for round := 1; ; round++ {
		fix := FixOf(t, out)
		if seen[fix] {
			t.Fatalf("round %d: the fix %q was followed already and the failure is still there:\n%s", round, fix, out)
		}
		seen[fix] = true
		f.follow(fix)
		t.Logf("round %d, fix followed: %s", round, fix)
		var ok bool
		if out, ok = try(); ok {
			return
		}
		if round == rounds {
			t.Fatalf("after round %d of following the fixes (%q), it still fails:\n%s", round, f.Done, out)
		}
	}
}
