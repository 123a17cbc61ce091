package deliver

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// ebb-deliver is `ebb deliver` as a small binary of its own (issue 16):
// for every case it must answer exactly as `ebb deliver` does — the same
// exit code, the same stderr, the same stored message.
func TestEbbDeliverBinaryAnswersAsEbbDeliver(t *testing.T) {
	t.Parallel()
	m := harness.NewMailEnv(t, "")
	m.AddMailboxes("example.com", []string{"alice", "bob"}, nil)
	mda := harness.EbbDeliver(t)
	run := func(bin string, msg []byte, args ...string) harness.Result {
		t.Helper()
		var cmd *exec.Cmd
		if bin == m.Ebb {
			cmd = exec.Command(bin, append([]string{"deliver", "-c", m.Conf}, args...)...)
		} else {
			cmd = exec.Command(bin, append([]string{"-c", m.Conf}, args...)...)
		}
		harness.AsUser(cmd, m.User)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "TMPDIR=/nonexistent-ebb-must-not-use-tmpdir"}
		return harness.Run(t, cmd, msg)
	}
	msg := harness.DeliverMessage("same answer", 5000)
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"delivered", []string{"-d", "alice@example.com", "-f", "carol@example.net"}, 0},
		{"folder", []string{"-d", "alice@example.com", "-m", "Work/Reports"}, 0},
		{"unknown mailbox", []string{"-d", "nobody@example.com"}, 67},
		{"usage", []string{"extra-argument"}, 64},
		{"no target", nil, 64},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := run(m.Ebb, msg, c.args...)
			b := run(mda, msg, c.args...)
			if a.Code != c.code || b.Code != c.code {
				t.Fatalf("exit: ebb deliver %d, ebb-deliver %d, want %d\nstderr:\n%s\n%s", a.Code, b.Code, c.code, a.Stderr, b.Stderr)
			}
			if a.Stderr != b.Stderr {
				t.Errorf("stderr differs:\nebb deliver: %q\nebb-deliver: %q", a.Stderr, b.Stderr)
			}
		})
	}
	// The story: tmp/ not writable gives the same one line, exit 75.
	box := m.Maildir(m.BoxOf("bob", "example.com"))
	tmp := filepath.Join(box, "tmp")
	if err := os.Chown(tmp, 0, 0); err != nil {
		t.Fatal(err)
	}
	os.Chmod(tmp, 0o700)
	a := run(m.Ebb, msg, "-d", "bob@example.com")
	b := run(mda, msg, "-d", "bob@example.com")
	if a.Code != 75 || b.Code != 75 || a.Stderr != b.Stderr || a.Stderr == "" {
		t.Fatalf("unwritable tmp/: ebb deliver %d %q, ebb-deliver %d %q", a.Code, a.Stderr, b.Code, b.Stderr)
	}
	nothingDelivered(t, box)
	// Both stored the same bytes for alice (two each: INBOX and Work/Reports).
	inbox := m.Maildir(m.BoxOf("alice", "example.com"))
	files := harness.MaildirFiles(t, inbox, "new")
	if len(files) != 2 {
		t.Fatalf("alice's INBOX has %d messages, want 2 (one from each binary)", len(files))
	}
	x, _ := os.ReadFile(files[0])
	y, _ := os.ReadFile(files[1])
	if len(x) != len(y) {
		t.Errorf("stored sizes differ: %d and %d", len(x), len(y))
	}
}
