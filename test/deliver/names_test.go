package deliver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/test/harness"
)

// Issue 24: ebb deliver -d 'a<0x01>b@…' wrote the control character into
// Delivered-To:. Every door an address comes in by asks envaddr, the one
// parser: ebb deliver refuses such a recipient (67, no such user can
// exist) or sender (64) before anything is written, and says why.
func TestDeliverRefusesControlCharactersInAddresses(t *testing.T) {
	t.Parallel()
	m := harness.NewMailEnv(t, "")
	m.AddMailboxes("example.test", []string{"ab"}, nil)
	msg := []byte("Subject: hi\n\nbody\n")
	for _, c := range []struct {
		name string
		args []string
		exit int
	}{
		{"SOH in the recipient", []string{"-d", "a\x01b@example.test"}, diag.ExNoUser},
		{"an escape sequence in the recipient", []string{"-d", "\x1b[2Jab@example.test"}, diag.ExNoUser},
		{"DEL in the recipient", []string{"-d", "ab\x7f@example.test"}, diag.ExNoUser},
		{"a line break in the sender", []string{"-d", "ab@example.test", "-f", "s@example.org\nX-Evil: 1"}, diag.ExUsage},
		{"SOH in the sender", []string{"-d", "ab@example.test", "-f", "s\x01@example.org"}, diag.ExUsage},
		{"an escape sequence in an -A header", []string{"-d", "ab@example.test", "-A", "X-Note: \x1b[31mred"}, diag.ExUsage},
	} {
		r := m.Deliver(msg, c.args...)
		if r.Code != c.exit || !strings.Contains(r.Stderr, "control character") {
			t.Errorf("%s: exit %d %q, want %d naming the control character", c.name, r.Code, r.Stderr, c.exit)
		}
		if strings.ContainsAny(r.Stderr, "\x01\x1b\x7f") {
			t.Errorf("%s: the refusal carries the raw control character: %q", c.name, r.Stderr)
		}
	}
	files, _ := filepath.Glob(filepath.Join(m.Root, "*", "*", "Maildir", "*", "*"))
	if len(files) != 0 {
		t.Errorf("refused deliveries left files: %v", files)
	}
	// The same mailbox with clean addresses is delivered to.
	if r := m.Deliver(msg, "-d", "ab@example.test", "-f", "s@example.org"); r.Code != 0 {
		t.Fatalf("clean delivery: exit %d %s", r.Code, r.Stderr)
	}
	_, b := onlyMessage(t, m.BoxOf("ab", "example.test"))
	if !strings.Contains(string(b), "Delivered-To: ab@example.test\n") {
		t.Errorf("delivered:\n%s", b)
	}
}

// Issue 24: ebb user add took mailbox names that can never be Maildirs
// (.dot, a/b, ..) or addresses (control characters). They are refused when
// added, with the reason, and nothing is created.
func TestUserAddRefusesNamesThatCannotWork(t *testing.T) {
	t.Parallel()
	m := harness.NewMailEnv(t, "")
	m.AddMailboxes("example.test", nil, nil)
	for name, why := range map[string]string{
		".dot@example.test":     "dot at the start",
		"a/b@example.test":      `"/" in the local part`,
		"..@example.test":       "dot at the start",
		"a\x01b@example.test":   "control character",
		"a\u0085b@example.test": "control character",
		"a b@example.test":      "",
		"a%b@example.test":      "routing",
	} {
		r := m.Run(nil, "user", "add", "-c", m.Conf, "--no-password", name)
		if r.Code == 0 || why != "" && !strings.Contains(r.Stderr, why) {
			t.Errorf("ebb user add %q: exit %d %q; want a refusal saying %q", name, r.Code, r.Stderr, why)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(m.Root, "example.test"))
	if len(entries) != 0 {
		t.Errorf("refused names left directories: %v", entries)
	}
	if r := m.Run(nil, "alias", "add", "-c", m.Conf, "x@example.test", "a\x01b@example.net"); r.Code == 0 || !strings.Contains(r.Stderr, "control character") {
		t.Errorf("ebb alias add to a\\x01b: exit %d %q", r.Code, r.Stderr)
	}
	if r := m.Run(nil, "user", "add", "-c", m.Conf, "--no-password", "ok.name@example.test"); r.Code != 0 {
		t.Errorf("ebb user add ok.name: exit %d %s", r.Code, r.Stderr)
	}
}
