package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/test/harness"
)

// mailEnv is one test's mail system: a config whose server.user is the
// unprivileged test user, a mail root owned by it, and a directory database.
type mailEnv struct {
	t    *testing.T
	Dir  string // everything lives below
	Root string // mail.root
	Conf string // the config file
	User harness.User
	ebb  string
}

// newMailEnv writes a config with extra TOML appended to [mail].
func newMailEnv(t *testing.T, mailExtra string) *mailEnv {
	t.Helper()
	harness.RequireRoot(t)
	u := harness.Unprivileged(t)
	d := harness.Dir(t)
	m := &mailEnv{t: t, Dir: d, Root: filepath.Join(d, "mail"), Conf: filepath.Join(d, "ebb.toml"), User: u, ebb: harness.Ebb(t)}
	for _, p := range []string{m.Root, filepath.Join(d, "data")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		harness.Chown(t, p, u)
	}
	conf := fmt.Sprintf("[server]\nuser = %q\ndata_dir = %q\nhostname = \"mx.test\"\n\n[mail]\nroot = %q\n%s\n",
		u.Name, filepath.Join(d, "data"), m.Root, mailExtra)
	if err := os.WriteFile(m.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// doctor's lookups (relay.dns, auth.dns, dns.records) ask a test
	// server, never the host's resolver.
	harness.EmptyDNS(t, m.Conf)
	return m
}

// addMailboxes puts domain and mailboxes (and aliases: address -> targets)
// into the directory, owned by the test user afterwards.
func (m *mailEnv) addMailboxes(domain string, locals []string, aliases map[string][]string) {
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
	harness.Chown(m.t, filepath.Join(m.Dir, "data"), m.User)
}

// maildir makes a complete Maildir owned by the test user.
func (m *mailEnv) maildir(path string) string {
	m.t.Helper()
	for _, s := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(path, s), 0o700); err != nil {
			m.t.Fatal(err)
		}
	}
	harness.Chown(m.t, path, m.User)
	if strings.HasPrefix(path, m.Root+"/") {
		harness.Chown(m.t, m.Root, m.User)
	}
	return path
}

// boxOf is where mail.maildir puts address's Maildir.
func (m *mailEnv) boxOf(local, domain string) string {
	return filepath.Join(m.Root, domain, local, "Maildir")
}

// deliver runs ebb deliver -c CONF args... as the test user.
func (m *mailEnv) deliver(msg []byte, args ...string) harness.Result {
	m.t.Helper()
	cmd := exec.Command(m.ebb, append([]string{"deliver", "-c", m.Conf}, args...)...)
	harness.AsUser(cmd, m.User)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TMPDIR=/nonexistent-ebb-must-not-use-tmpdir"}
	return harness.Run(m.t, cmd, msg)
}

// files lists the regular files in dir/sub (dot files skipped: probes).
func maildirFiles(t *testing.T, dir, sub string) []string {
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

// onlyMessage returns the one file in dir/new, failing otherwise, and checks
// that tmp/ is empty and that the name's S= and W= are exact.
func onlyMessage(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	got := maildirFiles(t, dir, "new")
	if len(got) != 1 {
		t.Fatalf("%s/new holds %d files, want 1: %v", dir, len(got), got)
	}
	if tmp := maildirFiles(t, dir, "tmp"); len(tmp) != 0 {
		t.Fatalf("%s/tmp not empty after delivery: %v", dir, tmp)
	}
	data, err := os.ReadFile(got[0])
	if err != nil {
		t.Fatal(err)
	}
	checkSizes(t, got[0], data)
	return got[0], data
}

var sizeRE = regexp.MustCompile(`,S=(\d+),W=(\d+)(:2,.*)?$`)

// checkSizes pins what Dovecot depends on: S= is the file size, W= the
// size with every bare LF counted as CRLF.
func checkSizes(t *testing.T, path string, data []byte) {
	t.Helper()
	mm := sizeRE.FindStringSubmatch(filepath.Base(path))
	if mm == nil {
		t.Fatalf("name %s lacks ,S=<n>,W=<n>", filepath.Base(path))
	}
	s, _ := strconv.Atoi(mm[1])
	w, _ := strconv.Atoi(mm[2])
	if s != len(data) {
		t.Errorf("S=%d but the file has %d bytes", s, len(data))
	}
	want := len(data) + bytes.Count(data, []byte("\n")) - bytes.Count(data, []byte("\r\n"))
	if w != want {
		t.Errorf("W=%d, want %d", w, want)
	}
}

// nothingDelivered checks that a failed delivery left no trace.
func nothingDelivered(t *testing.T, dir string) {
	t.Helper()
	for _, s := range []string{"tmp", "new", "cur"} {
		if f := maildirFiles(t, dir, s); len(f) != 0 {
			t.Errorf("%s/%s holds %v after a failed delivery", dir, s, f)
		}
	}
}

// oneLine checks that stderr is exactly one line and returns it.
func oneLine(t *testing.T, stderr string) string {
	t.Helper()
	s := strings.TrimSuffix(stderr, "\n")
	if s == "" || strings.Contains(s, "\n") {
		t.Fatalf("stderr is not one line: %q", stderr)
	}
	return s
}

func testMessage(subject string, bodySize int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Bob <bob@example.net>\nTo: alice@example.com\nSubject: %s\nMessage-ID: <%s@example.net>\n\n", subject, strings.ReplaceAll(subject, " ", "."))
	line := strings.Repeat("0123456789abcdef", 4)[:63] + "\n"
	for b.Len() < bodySize {
		b.WriteString(line)
	}
	return b.Bytes()
}

func runOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
