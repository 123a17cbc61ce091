package doctor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// hintCase is one failure of a fault matrix and its fix, followed.
type hintCase struct {
	name string
	// extra is more [mail] TOML of the case's config.
	extra string
	// breakIt makes the failure.
	breakIt func(t *testing.T, m *harness.MailEnv)
	// provoke runs the operation that fails and returns its output; the
	// same call must succeed once the fix is followed.
	provoke func(t *testing.T, m *harness.MailEnv) (out string, ok bool)
	// want is in the failure's sentence.
	want string
	// words the case can follow.
	words map[string]func(t *testing.T, m *harness.MailEnv)
	// rounds is how many fixes may be followed before it works (0: up to
	// four); doctor sees every directory at once, so its fix must work in
	// one.
	rounds int
}

// deliverTo is ebb deliver -d ADDR as the mail user.
func deliverTo(addr string) func(t *testing.T, m *harness.MailEnv) (string, bool) {
	return func(t *testing.T, m *harness.MailEnv) (string, bool) {
		r := m.Deliver(harness.DeliverMessage("hint "+addr, 2000), "-d", addr)
		return r.Stdout + r.Stderr, r.Code == 0
	}
}

// doctorSays is ebb doctor as root (probing as the mail user): the lines
// of check that fail or warn; it "works" when there is none.
func doctorSays(check string) func(t *testing.T, m *harness.MailEnv) (string, bool) {
	return func(t *testing.T, m *harness.MailEnv) (string, bool) {
		return harness.DoctorCheckLines(t, m.Conf, check, "")
	}
}

// twoMailboxesTwoMaildirs delivers to alice and bob and checks that each
// message is in its own mailbox's Maildir and not in the other's.
func twoMailboxesTwoMaildirs(t *testing.T, m *harness.MailEnv, done []string) {
	t.Helper()
	for _, who := range []string{"alice", "bob"} {
		if r := m.Deliver(harness.DeliverMessage("for "+who, 500), "-d", who+"@example.test"); r.Code != 0 {
			t.Fatalf("after following %q, delivery to %s: exit %d %s", done, who, r.Code, r.Stderr)
		}
	}
	a, b := m.BoxOf("alice", "example.test"), m.BoxOf("bob", "example.test")
	for _, c := range []struct{ box, mine, other string }{{a, "for alice", "for bob"}, {b, "for bob", "for alice"}} {
		var got string
		for _, f := range harness.MaildirFiles(t, c.box, "new") {
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
	alice := func(m *harness.MailEnv) string { return m.BoxOf("alice", "example.test") }
	cases := []hintCase{
		{name: "a Maildir's tmp/ made by root", breakIt: func(t *testing.T, m *harness.MailEnv) {
			rootOwn(t, filepath.Join(alice(m), "tmp"), 0o700)
		}, provoke: deliverTo("alice@example.test"), want: "cannot create a file in"},
		{name: "a Maildir's new/ made by root", breakIt: func(t *testing.T, m *harness.MailEnv) {
			rootOwn(t, filepath.Join(alice(m), "new"), 0o755)
		}, provoke: deliverTo("alice@example.test"), want: "permission denied"},
		{name: "a Maildir without tmp/ (mail.create = false)", extra: "create = false", breakIt: func(t *testing.T, m *harness.MailEnv) {
			os.RemoveAll(filepath.Join(alice(m), "tmp"))
		}, provoke: deliverTo("alice@example.test"), want: "tmp"},
		{name: "a mailbox without a Maildir (mail.create = false)", extra: "create = false", breakIt: func(t *testing.T, m *harness.MailEnv) {
			os.RemoveAll(filepath.Dir(alice(m)))
		}, provoke: deliverTo("alice@example.test"), want: "deliver to"},
		{name: "mail.root made by root (a new mailbox)", breakIt: func(t *testing.T, m *harness.MailEnv) {
			os.RemoveAll(filepath.Join(m.Root, "example.test"))
			rootOwn(t, m.Root, 0o755)
		}, provoke: deliverTo("alice@example.test"), want: m0(""), words: nil},
		{name: "the directory database made by root", breakIt: func(t *testing.T, m *harness.MailEnv) {
			rootOwn(t, filepath.Join(m.Dir, "data", "directory.db"), 0o600)
		}, provoke: deliverTo("alice@example.test"), want: "directory.db"},
		{name: "server.data_dir made by root", breakIt: func(t *testing.T, m *harness.MailEnv) {
			rootOwn(t, filepath.Join(m.Dir, "data"), 0o700)
		}, provoke: deliverTo("alice@example.test"), want: "data"},
		{name: "doctor: mail.root missing", breakIt: func(t *testing.T, m *harness.MailEnv) {
			os.RemoveAll(m.Root)
		}, provoke: doctorSays("mail.root"), want: "mail root"},
		{name: "doctor: a Maildir others can read", breakIt: func(t *testing.T, m *harness.MailEnv) {
			os.Chmod(alice(m), 0o755)
		}, provoke: doctorSays("maildir"), want: "other users may read"},
		{name: "a Maildir root copied in (cp -a as root)", breakIt: func(t *testing.T, m *harness.MailEnv) {
			harness.Chown(t, alice(m), harness.User{Name: "root"})
		}, provoke: deliverTo("alice@example.test"), want: "permission denied", rounds: 1},
		{name: "doctor: a Maildir root copied in", breakIt: func(t *testing.T, m *harness.MailEnv) {
			harness.Chown(t, alice(m), harness.User{Name: "root"})
		}, provoke: doctorSays("maildir"), want: "permission denied"},
		{name: "doctor: mail.root made by root, Maildirs below it", breakIt: func(t *testing.T, m *harness.MailEnv) {
			// The blocker is above every Maildir: a chown -R of a Maildir
			// changes nothing, the one chown of mail.root does.
			rootOwn(t, m.Root, 0o700)
		}, provoke: doctorSays("maildir"), want: "permission denied", rounds: 1},
		{name: "doctor: server.data_dir made by root, sieve state to be made in it", breakIt: func(t *testing.T, m *harness.MailEnv) {
			// install -d of the state directories inside a directory the
			// mail user cannot pass through would leave them out of reach.
			rootOwn(t, filepath.Join(m.Dir, "data"), 0o700)
		}, provoke: doctorSays("sieve.state"), want: "permission denied", rounds: 1},
		{name: "doctor: journal.dir below a folder root made", breakIt: func(t *testing.T, m *harness.MailEnv) {
			state := filepath.Join(m.Dir, "state")
			os.Mkdir(state, 0o755)
			b, _ := os.ReadFile(m.Conf)
			os.WriteFile(m.Conf, append(b, fmt.Sprintf("\n[journal]\ndir = %q\n", filepath.Join(state, "journal"))...), 0o644)
		}, provoke: doctorSays("journal.dir"), want: "the journal needs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // each case its own mail system
			m := harness.NewMailEnv(t, c.extra)
			m.AddMailboxes("example.test", []string{"alice", "bob"}, nil)
			for _, who := range []string{"alice", "bob"} {
				m.Maildir(m.BoxOf(who, "example.test"))
			}
			if _, ok := c.provoke(t, m); !ok {
				t.Fatalf("the case fails before it is broken")
			}
			c.breakIt(t, m)
			out, ok := c.provoke(t, m)
			if ok || !strings.Contains(out, c.want) {
				t.Fatalf("broken, the operation did not fail with %q:\n%s", c.want, out)
			}
			f := &harness.HintFollower{T: t, Words: map[string]func(){}}
			for w, do := range c.words {
				f.Words[w] = func() { do(t, m) }
			}
			before := harness.Observe(t, f, m.Dir)
			harness.FollowWithin(t, f, func() (string, bool) { return c.provoke(t, m) }, out, c.rounds)
			before.NotWorse(t, harness.Observe(t, f, m.Dir), m.User, f.Done)
			twoMailboxesTwoMaildirs(t, m, f.Done)
		})
	}
}

// m0 is a want that any failure meets.
func m0(s string) string { return s }
