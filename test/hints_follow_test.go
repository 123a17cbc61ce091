package test

import (
	"fmt"
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
	"github.com/ebbmail/ebb/test/harness"
)

// The hint-following suite (issue 21, item 1; principle 2). Each case
// breaks a real directory the way real servers break, runs ebb as the
// unprivileged mail user until it fails, reads the "Fix:" of its sentence
// as an administrator would, does exactly what it says (runs the command,
// sets the setting, restarts or reloads the daemon), and checks that
//
//	(a) the failure is gone: the same operation succeeds;
//	(b) nothing got worse: no path the system shares changed owner or
//	    mode, no secret became readable by anyone but who could read it
//	    before and the mail user who must, and two mailboxes still land in
//	    two Maildirs.
//
// A fix that cannot be followed literally (a step in words that the case
// does not know how to do) fails its case. docs/doctor.md lists each
// failure, its fix, and the case here that follows it.

// hintFollower does what a "Fix:" says, in the grammar of
// internal/diag/fix.go, literally.
type hintFollower struct {
	t *testing.T
	// daemon does "start", "restart" or "reload" of the case's ebb serve.
	daemon func(action string)
	// words are the steps in words a case knows how to do (freeing space
	// on a full filesystem is deleting a file, whatever the words).
	words map[string]func()
	// ns runs a command inside the case's mount namespace (nil: here).
	ns func(args ...string) *exec.Cmd
	// done records what was followed, for the failure messages.
	done []string
}

// fixOf is the fix of the first line of out that has one.
func fixOf(t *testing.T, out string) string {
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

// stepMarkers start a step that can be followed.
var stepMarkers = []string{"run as ", "run: ", "set ", "restart ebb serve", "reload ebb serve", "start ebb serve"}

// follow does every step of fix, in order: the first way of several ("; or
// instead:"), then its check command.
func (f *hintFollower) follow(fix string) {
	f.t.Helper()
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
			for _, m := range stepMarkers {
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

func (f *hintFollower) do(step string) {
	f.t.Helper()
	f.done = append(f.done, step)
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
			f.t.Fatalf("cannot read the step %q", step)
		}
		setTOML(f.t, rest[i+len(" in "):], key, rest[:i])
	case strings.HasPrefix(step, "restart ebb serve"), strings.HasPrefix(step, "reload ebb serve"), strings.HasPrefix(step, "start ebb serve"):
		if f.daemon == nil {
			f.t.Fatalf("the fix says %q, and this case runs no daemon", step)
		}
		f.daemon(strings.Fields(step)[0])
	default:
		f.say(step)
	}
}

// say is a step in words: followed only when the case knows how.
func (f *hintFollower) say(words string) {
	f.t.Helper()
	for w, do := range f.words {
		if strings.Contains(words, w) {
			f.done = append(f.done, "("+w+")")
			do()
			return
		}
	}
	f.t.Fatalf("the fix cannot be followed literally: %q (followed so far: %q)", words, f.done)
}

func (f *hintFollower) command(who, line string) *exec.Cmd {
	args := []string{"sh", "-c", line}
	if who != "root" {
		args = append([]string{"runuser", "-u", who, "--"}, args...)
	}
	if f.ns != nil {
		return f.ns(args...)
	}
	return exec.Command(args[0], args[1:]...)
}

func (f *hintFollower) run(who, line string) harness.Result {
	f.t.Helper()
	return harness.Run(f.t, f.command(who, line), nil)
}

func (f *hintFollower) mustRun(who, line string) {
	f.t.Helper()
	if r := f.run(who, line); r.Code != 0 {
		f.t.Fatalf("following the fix, %q as %s: exit %d\n%s%s", line, who, r.Code, r.Stdout, r.Stderr)
	}
}

// world is what a fix must not make worse.
type world struct {
	shared  map[string]string          // path → "uid:gid mode" of paths the system shares
	secrets map[string]map[string]bool // path → who can read it
}

// sharedPaths are paths the system shares (diag.IsSystemPath), and the
// test's own directory, which stands for the /srv or /var/lib a setting's
// directory sits in: a fix may change what is below, never these.
func sharedPaths(root string) []string {
	return []string{"/", "/tmp", "/var", "/var/mail", "/var/lib", "/var/spool", "/var/tmp", "/etc", "/srv", "/home", "/usr", "/usr/local", "/opt", "/run", root}
}

// observe records the world: the shared paths (stat run in the case's
// namespace when it has one) and every secret below root.
func observe(t *testing.T, f *hintFollower, root string) world {
	t.Helper()
	w := world{shared: map[string]string{}, secrets: map[string]map[string]bool{}}
	for _, p := range sharedPaths(root) {
		r := f.run("root", "stat -c '%u:%g %a' "+p)
		w.shared[p] = strings.TrimSpace(r.Stdout + r.Stderr)
	}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !diag.IsSecretPath(p, nil) {
			return nil
		}
		if fi, err := os.Stat(p); err == nil {
			w.secrets[p] = readers(fi)
		}
		return nil
	})
	return w
}

// readers is who may read a file by its mode: its owner, its group,
// everyone.
func readers(fi os.FileInfo) map[string]bool {
	st := fi.Sys().(*syscall.Stat_t)
	m := fi.Mode().Perm()
	out := map[string]bool{}
	if m&0o400 != 0 {
		out["user:"+uname(int(st.Uid))] = true
	}
	if m&0o040 != 0 {
		out["group:"+gname(int(st.Gid))] = true
	}
	if m&0o004 != 0 {
		out["everyone"] = true
	}
	return out
}

func uname(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

func gname(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}

// notWorse checks after against before: the shared paths as they were, and
// no secret readable by anyone new but the mail user (and its group).
func (before world) notWorse(t *testing.T, after world, mail harness.User, done []string) {
	t.Helper()
	for p, was := range before.shared {
		if after.shared[p] != was {
			t.Errorf("following %q changed %s, a path the system shares: %s, was %s", done, p, after.shared[p], was)
		}
	}
	allowed := map[string]bool{"user:" + mail.Name: true, "group:" + gname(mail.GID): true, "user:root": true}
	for p, rs := range after.secrets {
		for r := range rs {
			if !before.secrets[p][r] && !allowed[r] && (before.secrets[p] != nil || r == "everyone") {
				t.Errorf("following %q made the secret %s readable by %s (before: %v)", done, p, r, keys(before.secrets[p]))
			}
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// hintCase is one failure of a fault matrix and its fix, followed.
type hintCase struct {
	name string
	// extra is more [mail] TOML of the case's config.
	extra string
	// breakIt makes the failure.
	breakIt func(t *testing.T, m *mailEnv)
	// provoke runs the operation that fails and returns its output; the
	// same call must succeed once the fix is followed.
	provoke func(t *testing.T, m *mailEnv) (out string, ok bool)
	// want is in the failure's sentence.
	want string
	// words the case can follow.
	words map[string]func(t *testing.T, m *mailEnv)
	// rounds is how many fixes may be followed before it works (0: up to
	// four); doctor sees every directory at once, so its fix must work in
	// one.
	rounds int
}

// deliverTo is ebb deliver -d ADDR as the mail user.
func deliverTo(addr string) func(t *testing.T, m *mailEnv) (string, bool) {
	return func(t *testing.T, m *mailEnv) (string, bool) {
		r := m.deliver(testMessage("hint "+addr, 2000), "-d", addr)
		return r.Stdout + r.Stderr, r.Code == 0
	}
}

// doctorSays is ebb doctor as root (probing as the mail user); it "works"
// when no line of check fails.
func doctorSays(check string) func(t *testing.T, m *mailEnv) (string, bool) {
	return func(t *testing.T, m *mailEnv) (string, bool) {
		r := harness.Run(t, exec.Command(harness.Ebb(t), "doctor", "-c", m.Conf), nil)
		var lines []string
		for _, l := range strings.Split(r.Stdout, "\n") {
			if strings.HasPrefix(l, "FAIL  "+check+" ") || strings.HasPrefix(l, "WARN  "+check+" ") {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "\n"), len(lines) == 0
	}
}

// twoMailboxesTwoMaildirs delivers to alice and bob and checks that each
// message is in its own mailbox's Maildir and not in the other's.
func twoMailboxesTwoMaildirs(t *testing.T, m *mailEnv, done []string) {
	t.Helper()
	for _, who := range []string{"alice", "bob"} {
		if r := m.deliver(testMessage("for "+who, 500), "-d", who+"@example.test"); r.Code != 0 {
			t.Fatalf("after following %q, delivery to %s: exit %d %s", done, who, r.Code, r.Stderr)
		}
	}
	a, b := m.boxOf("alice", "example.test"), m.boxOf("bob", "example.test")
	for _, c := range []struct{ box, mine, other string }{{a, "for alice", "for bob"}, {b, "for bob", "for alice"}} {
		var got string
		for _, f := range maildirFiles(t, c.box, "new") {
			d, _ := os.ReadFile(f)
			got += string(d)
		}
		if !strings.Contains(got, "Subject: "+c.mine) || strings.Contains(got, "Subject: "+c.other) {
			t.Errorf("after following %q, %s does not hold its own mail alone", done, c.box)
		}
	}
}

func rootOwn(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chown(path, 0, 0); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, mode)
}

// The delivery, directory and Maildir matrix, as ebb deliver -d meets it
// (the mail user, the directory in server.data_dir, Maildirs under
// mail.root).
func TestHintsFollowedFixTheDeliveryMatrix(t *testing.T) {
	t.Parallel()
	alice := func(m *mailEnv) string { return m.boxOf("alice", "example.test") }
	cases := []hintCase{
		{name: "a Maildir's tmp/ made by root", breakIt: func(t *testing.T, m *mailEnv) {
			rootOwn(t, filepath.Join(alice(m), "tmp"), 0o700)
		}, provoke: deliverTo("alice@example.test"), want: "cannot create a file in"},
		{name: "a Maildir's new/ made by root", breakIt: func(t *testing.T, m *mailEnv) {
			rootOwn(t, filepath.Join(alice(m), "new"), 0o755)
		}, provoke: deliverTo("alice@example.test"), want: "permission denied"},
		{name: "a Maildir without tmp/ (mail.create = false)", extra: "create = false", breakIt: func(t *testing.T, m *mailEnv) {
			os.RemoveAll(filepath.Join(alice(m), "tmp"))
		}, provoke: deliverTo("alice@example.test"), want: "tmp"},
		{name: "a mailbox without a Maildir (mail.create = false)", extra: "create = false", breakIt: func(t *testing.T, m *mailEnv) {
			os.RemoveAll(filepath.Dir(alice(m)))
		}, provoke: deliverTo("alice@example.test"), want: "deliver to"},
		{name: "mail.root made by root (a new mailbox)", breakIt: func(t *testing.T, m *mailEnv) {
			os.RemoveAll(filepath.Join(m.Root, "example.test"))
			rootOwn(t, m.Root, 0o755)
		}, provoke: deliverTo("alice@example.test"), want: m0(""), words: nil},
		{name: "the directory database made by root", breakIt: func(t *testing.T, m *mailEnv) {
			rootOwn(t, filepath.Join(m.Dir, "data", "directory.db"), 0o600)
		}, provoke: deliverTo("alice@example.test"), want: "directory.db"},
		{name: "server.data_dir made by root", breakIt: func(t *testing.T, m *mailEnv) {
			rootOwn(t, filepath.Join(m.Dir, "data"), 0o700)
		}, provoke: deliverTo("alice@example.test"), want: "data"},
		{name: "doctor: mail.root missing", breakIt: func(t *testing.T, m *mailEnv) {
			os.RemoveAll(m.Root)
		}, provoke: doctorSays("mail.root"), want: "mail root"},
		{name: "doctor: a Maildir others can read", breakIt: func(t *testing.T, m *mailEnv) {
			os.Chmod(alice(m), 0o755)
		}, provoke: doctorSays("maildir"), want: "other users may read"},
		{name: "a Maildir root copied in (cp -a as root)", breakIt: func(t *testing.T, m *mailEnv) {
			harness.Chown(t, alice(m), harness.User{Name: "root"})
		}, provoke: deliverTo("alice@example.test"), want: "permission denied", rounds: 1},
		{name: "doctor: a Maildir root copied in", breakIt: func(t *testing.T, m *mailEnv) {
			harness.Chown(t, alice(m), harness.User{Name: "root"})
		}, provoke: doctorSays("maildir"), want: "permission denied"},
		{name: "doctor: mail.root made by root, Maildirs below it", breakIt: func(t *testing.T, m *mailEnv) {
			// The blocker is above every Maildir: a chown -R of a Maildir
			// changes nothing, the one chown of mail.root does.
			rootOwn(t, m.Root, 0o700)
		}, provoke: doctorSays("maildir"), want: "permission denied", rounds: 1},
		{name: "doctor: server.data_dir made by root, sieve state to be made in it", breakIt: func(t *testing.T, m *mailEnv) {
			// install -d of the state directories inside a directory the
			// mail user cannot pass through would leave them out of reach.
			rootOwn(t, filepath.Join(m.Dir, "data"), 0o700)
		}, provoke: doctorSays("sieve.state"), want: "permission denied", rounds: 1},
		{name: "doctor: journal.dir below a folder root made", breakIt: func(t *testing.T, m *mailEnv) {
			state := filepath.Join(m.Dir, "state")
			os.Mkdir(state, 0o755)
			b, _ := os.ReadFile(m.Conf)
			os.WriteFile(m.Conf, append(b, fmt.Sprintf("\n[journal]\ndir = %q\n", filepath.Join(state, "journal"))...), 0o644)
		}, provoke: doctorSays("journal.dir"), want: "the journal needs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newMailEnv(t, c.extra)
			m.addMailboxes("example.test", []string{"alice", "bob"}, nil)
			for _, who := range []string{"alice", "bob"} {
				m.maildir(m.boxOf(who, "example.test"))
			}
			if _, ok := c.provoke(t, m); !ok {
				t.Fatalf("the case fails before it is broken")
			}
			c.breakIt(t, m)
			out, ok := c.provoke(t, m)
			if ok || !strings.Contains(out, c.want) {
				t.Fatalf("broken, the operation did not fail with %q:\n%s", c.want, out)
			}
			f := &hintFollower{t: t, words: map[string]func(){}}
			for w, do := range c.words {
				f.words[w] = func() { do(t, m) }
			}
			before := observe(t, f, m.Dir)
			followWithin(t, f, func() (string, bool) { return c.provoke(t, m) }, out, c.rounds)
			before.notWorse(t, observe(t, f, m.Dir), m.User, f.done)
			twoMailboxesTwoMaildirs(t, m, f.done)
		})
	}
}

// m0 is a want that any failure meets.
func m0(s string) string { return s }

// followUntilFixed follows the fix of out, tries the operation again, and
// follows the next fix it gives, as an administrator would, for a few
// rounds (a Maildir root copied in fails at tmp/, then at new/): each round
// must get further, and the last must succeed.
func followUntilFixed(t *testing.T, f *hintFollower, try func() (string, bool), out string) {
	t.Helper()
	followWithin(t, f, try, out, 4)
}

// followWithin is followUntilFixed for at most rounds rounds (0: four).
func followWithin(t *testing.T, f *hintFollower, try func() (string, bool), out string, rounds int) {
	t.Helper()
	if rounds == 0 {
		rounds = 4
	}
	seen := map[string]bool{}
	for round := 1; ; round++ {
		fix := fixOf(t, out)
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
			t.Fatalf("after round %d of following the fixes (%q), it still fails:\n%s", round, f.done, out)
		}
	}
}
