package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
)

// MailEnv is one test's mail system: a config whose server.user is the
// unprivileged test user, a mail root owned by it, and a directory database.
type MailEnv struct {
	t    *testing.T
	Dir  string // everything lives below
	Root string // mail.root
	Conf string // the config file
	User User
	Ebb  string
}

// NewMailEnv writes a config with extra TOML appended to [mail].
func NewMailEnv(t *testing.T, mailExtra string) *MailEnv {
	t.Helper()
	RequireRoot(t)
	u := Unprivileged(t)
	d := Dir(t)
	m := &MailEnv{t: t, Dir: d, Root: filepath.Join(d, "mail"), Conf: filepath.Join(d, "ebb.toml"), User: u, Ebb: Ebb(t)}
	for _, p := range []string{m.Root, filepath.Join(d, "data")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		Chown(t, p, u)
	}
	conf := fmt.Sprintf("[server]\nuser = %q\ndata_dir = %q\nhostname = \"mx.test\"\n\n[mail]\nroot = %q\n%s\n",
		u.Name, filepath.Join(d, "data"), m.Root, mailExtra)
	if err := os.WriteFile(m.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// doctor's lookups (relay.dns, auth.dns, dns.records) ask a test
	// server, never the host's resolver.
	EmptyDNS(t, m.Conf)
	return m
}

// AddMailboxes puts domain and mailboxes (and aliases: address -> targets)
// into the directory, owned by the test user afterwards.
func (m *MailEnv) AddMailboxes(domain string, locals []string, aliases map[string][]string) {
	m.t.Helper()
	cfg, err := config.Load(m.Conf)
	if err != nil {
		m.t.Fatal(err)
	}
	ctx := context.Background()
	dir, err := directory.Open(ctx, cfg)
	if err != nil {
		m.t.Fatal(err)
	}
	defer dir.Close()
	if err := dir.AddDomain(ctx, domain); err != nil {
		m.t.Fatal(err)
	}
	for _, l := range locals {
		if err := dir.AddMailbox(ctx, directory.Mailbox{Address: l + "@" + domain, Enabled: true}); err != nil {
			m.t.Fatal(err)
		}
	}
	for a, ts := range aliases {
		if err := dir.AddAlias(ctx, a, ts...); err != nil {
			m.t.Fatal(err)
		}
	}
	Chown(m.t, filepath.Join(m.Dir, "data"), m.User)
}

// Maildir makes a complete Maildir owned by the test user.
func (m *MailEnv) Maildir(path string) string {
	m.t.Helper()
	for _, s := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(path, s), 0o700); err != nil {
			m.t.Fatal(err)
		}
	}
	Chown(m.t, path, m.User)
	if strings.HasPrefix(path, m.Root+"/") {
		Chown(m.t, m.Root, m.User)
	}
	return path
}

// BoxOf is where mail.maildir puts address's Maildir.
func (m *MailEnv) BoxOf(local, domain string) string {
	return filepath.Join(m.Root, domain, local, "Maildir")
}

// Deliver runs ebb deliver -c CONF args... as the test user.
func (m *MailEnv) Deliver(msg []byte, args ...string) Result {
	m.t.Helper()
	cmd := exec.Command(m.Ebb, append([]string{"deliver", "-c", m.Conf}, args...)...)
	AsUser(cmd, m.User)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TMPDIR=/nonexistent-ebb-must-not-use-tmpdir"}
	return Run(m.t, cmd, msg)
}

// files lists the regular files in dir/sub (dot files skipped: probes).
func MaildirFiles(t *testing.T, dir, sub string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, sub))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(dir, sub, e.Name()))
		}
	}
	return out
}

// OneLine checks that stderr is exactly one line and returns it.
func OneLine(t *testing.T, stderr string) string {
	t.Helper()
	s := strings.TrimSuffix(stderr, "\n")
	if s == "" || strings.Contains(s, "\n") {
		t.Fatalf("stderr is not one line: %q", stderr)
	}
	return s
}

// DeliverMessage is a message with subject and a body of about bodySize
// bytes of 63-character lines.
func DeliverMessage(subject string, bodySize int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Bob <bob@example.net>\nTo: alice@example.com\nSubject: %s\nMessage-ID: <%s@example.net>\n\n", subject, strings.ReplaceAll(subject, " ", "."))
	line := strings.Repeat("0123456789abcdef", 4)[:63] + "\n"
	for b.Len() < bodySize {
		b.WriteString(line)
	}
	return b.Bytes()
}

// RunOut runs name args... and returns its combined output.
func RunOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// ExactMessage is a message of exactly n bytes (n >= 0), LF line endings.
func ExactMessage(n int) []byte {
	head := []byte("Subject: size test\n\n")
	if n < len(head) {
		return bytes.Repeat([]byte("x"), n)
	}
	b := make([]byte, 0, n)
	b = append(b, head...)
	line := []byte(strings.Repeat("abcdefghij", 7) + "\n")
	for len(b) < n {
		k := n - len(b)
		if k > len(line) {
			k = len(line)
		}
		b = append(b, line[:k]...)
	}
	return b
}

// HasString reports whether list holds s.
func HasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// DeliverNoTmp runs ebb deliver as the test user in a private mount
// namespace whose /tmp is a root-owned 0755 tmpfs: the user cannot create
// anything there (the maildrop story), and TMPDIR points nowhere. Every
// delivery below succeeding proves ebb never uses /tmp or $TMPDIR, for any
// size. The message arrives through a pipe, as from an MTA.
func (m *MailEnv) DeliverNoTmp(t *testing.T, msg []byte, args ...string) Result {
	t.Helper()
	bin := filepath.Join(m.Dir, "ebb")
	if _, err := os.Stat(bin); err != nil {
		CopyExecutable(t, m.Ebb, bin)
	}
	script := `set -e
mount --bind "$KEEP" /mnt
mount -t tmpfs -o mode=0755,size=1m ebb-no-tmp /tmp
mkdir -p "$KEEP"
mount --bind /mnt "$KEEP"
if setpriv --reuid="$U" --regid="$G" --clear-groups touch /tmp/probe 2>/dev/null; then echo "/tmp is writable" >&2; exit 99; fi
exec setpriv --reuid="$U" --regid="$G" --clear-groups env TMPDIR=/nonexistent "$@"`
	cmd := exec.Command("unshare", append([]string{"-m", "--propagation", "private", "sh", "-c", script, "sh", bin, "deliver", "-c", m.Conf}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "KEEP=" + m.Dir,
		fmt.Sprintf("U=%d", m.User.UID), fmt.Sprintf("G=%d", m.User.GID)}
	return Run(t, cmd, msg)
}

// CopyExecutable copies the program src to dst, mode 0755.
func CopyExecutable(t *testing.T, src, dst string) {
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
}

// OpenDirectory opens the environment's directory read-write, as root:
// give the data directory back to the test user before ebb deliver runs.
func (m *MailEnv) OpenDirectory() (*config.Config, *directory.Directory) {
	m.t.Helper()
	cfg, err := config.Load(m.Conf)
	if err != nil {
		m.t.Fatal(err)
	}
	d, err := directory.Open(context.Background(), cfg)
	if err != nil {
		m.t.Fatal(err)
	}
	return cfg, d
}

// Run runs ebb args... as the test user (the owner of the directory).
func (m *MailEnv) Run(stdin []byte, args ...string) Result {
	m.t.Helper()
	return Run(m.t, AsUser(exec.Command(Ebb(m.t), args...), m.User), stdin)
}

// Doctor runs ebb doctor -c CONF args..., as the test user when asUser.
func (m *MailEnv) Doctor(asUser bool, args ...string) Result {
	m.t.Helper()
	cmd := exec.Command(m.Ebb, append([]string{"doctor", "-c", m.Conf}, args...)...)
	if asUser {
		AsUser(cmd, m.User)
	}
	return Run(m.t, cmd, nil)
}
