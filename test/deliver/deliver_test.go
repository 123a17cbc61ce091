package deliver

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// The story of the brief: a Maildir tmp/ that the delivery user cannot
// write. Every size fails the same way, now, with the whole story in one
// line: exit 75 (the MTA retries), directory, errno, uid, owner and mode,
// the setting that chose the path, the fix.
func TestDeliverStoryTmpNotWritable(t *testing.T) {
	t.Parallel()
	m := harness.NewMailEnv(t, "")
	m.AddMailboxes("example.com", []string{"alice"}, nil)
	box := m.Maildir(m.BoxOf("alice", "example.com"))
	tmp := filepath.Join(box, "tmp")
	if err := os.Chown(tmp, 0, 0); err != nil {
		t.Fatal(err)
	}
	os.Chmod(tmp, 0o700)
	want := fmt.Sprintf("ebb deliver: cannot create a file in %s: permission denied (running as uid %d %s; the directory is root:root 0700; path from mail.root = %q at %s:7). Fix: run: chown %s:%s %s; then check: ebb doctor -c %s",
		tmp, m.User.UID, m.User.Name, m.Root, m.Conf, m.User.Name, m.User.Name, tmp, m.Conf)
	for _, size := range []int{1 << 20, 8192, 8193, 100} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			r := m.Deliver(harness.ExactMessage(size), "-d", "alice@example.com", "-f", "bob@example.net")
			if r.Code != 75 {
				t.Errorf("exit %d, want 75 (EX_TEMPFAIL); stderr %q", r.Code, r.Stderr)
			}
			if got := harness.OneLine(t, r.Stderr); got != want {
				t.Errorf("stderr:\n got %s\nwant %s", got, want)
			}
			nothingDelivered(t, box)
		})
	}
}

// Which directory refuses changes the words, never the shape: exit 75, the
// directory named with owner and mode, nothing left behind.
func TestDeliverPermissionDenied(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		setup   func(m *harness.MailEnv, box string)
		wantDir func(box string) string
		doing   string
	}{
		{"tmp not writable", func(m *harness.MailEnv, box string) {
			m.Maildir(box)
			os.Chown(filepath.Join(box, "tmp"), 0, 0)
		}, func(box string) string { return filepath.Join(box, "tmp") }, "cannot create a file in"},
		{"new not writable", func(m *harness.MailEnv, box string) {
			m.Maildir(box)
			os.Chown(filepath.Join(box, "new"), 0, 0)
		}, func(box string) string { return filepath.Join(box, "new") }, "cannot link the message into"},
		{"Maildir not writable and tmp missing", func(m *harness.MailEnv, box string) {
			m.Maildir(box)
			os.Remove(filepath.Join(box, "tmp"))
			os.Chown(box, 0, 0)
		}, func(box string) string { return filepath.Join(box, "tmp") }, "cannot create the Maildir"},
		{"parent not writable, Maildir missing", func(m *harness.MailEnv, box string) {
			os.MkdirAll(filepath.Dir(box), 0o755)
		}, func(box string) string { return box }, "cannot create the Maildir"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := harness.NewMailEnv(t, "")
			box := filepath.Join(m.Dir, "box", "Maildir")
			os.MkdirAll(filepath.Dir(box), 0o755)
			c.setup(m, box)
			r := m.Deliver(harness.DeliverMessage("perm", 9000), "--maildir", box)
			if r.Code != 75 {
				t.Fatalf("exit %d, want 75; stderr %q", r.Code, r.Stderr)
			}
			line := harness.OneLine(t, r.Stderr)
			for _, want := range []string{c.doing + " " + c.wantDir(box) + ": permission denied", fmt.Sprintf("running as uid %d", m.User.UID), "root:root", "Fix: run: chown " + m.User.Name} {
				if !strings.Contains(line, want) {
					t.Errorf("stderr lacks %q:\n%s", want, line)
				}
			}
			nothingDelivered(t, box)
		})
	}
}

// With mail.create = false a missing Maildir is not made: the error names
// which of tmp/, new/, cur/ is missing.
func TestDeliverMissingMaildir(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, remove, want string
	}{
		{"whole Maildir", "", "no Maildir here (tmp/, new/ and cur/ are missing)"},
		{"tmp", "tmp", "the Maildir lacks tmp/ (new/, cur/ present)"},
		{"cur", "cur", "the Maildir lacks cur/ (tmp/, new/ present)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := harness.NewMailEnv(t, "create = false")
			box := filepath.Join(m.Root, "Maildir")
			if c.remove != "" {
				m.Maildir(box)
				os.Remove(filepath.Join(box, c.remove))
			}
			r := m.Deliver(harness.DeliverMessage("missing", 100), "--maildir", box)
			if r.Code != 75 {
				t.Fatalf("exit %d, want 75; stderr %q", r.Code, r.Stderr)
			}
			line := harness.OneLine(t, r.Stderr)
			if !strings.Contains(line, "cannot deliver to "+box+": "+c.want) {
				t.Errorf("stderr: %s\nwant it to say: %s", line, c.want)
			}
			if c.remove == "" {
				if _, err := os.Stat(box); err == nil {
					t.Errorf("the Maildir was created although mail.create = false")
				}
			}
		})
	}
}

// A regular file where a directory belongs is named as such.
func TestDeliverPathIsAFile(t *testing.T) {
	t.Parallel()
	for _, where := range []string{"Maildir", "tmp"} {
		t.Run(where, func(t *testing.T) {
			m := harness.NewMailEnv(t, "")
			box := filepath.Join(m.Root, "Maildir")
			target := box
			if where == "tmp" {
				m.Maildir(box)
				os.Remove(filepath.Join(box, "tmp"))
				target = filepath.Join(box, "tmp")
			}
			os.WriteFile(target, []byte("not a directory\n"), 0o644)
			harness.Chown(t, m.Root, m.User)
			r := m.Deliver(harness.DeliverMessage("file", 100), "--maildir", box)
			if r.Code != 75 {
				t.Fatalf("exit %d, want 75; stderr %q", r.Code, r.Stderr)
			}
			line := harness.OneLine(t, r.Stderr)
			if !strings.Contains(line, target+" is a file where a directory is expected") {
				t.Errorf("stderr does not say the file is in the way: %s", line)
			}
		})
	}
}

// Disk full: a 1 MiB tmpfs. The big message fails with ENOSPC, exit 75, and
// its partial tmp/ file is gone; a small one still goes through.
func TestDeliverDiskFull(t *testing.T) {
	t.Parallel()
	m := harness.NewMailEnv(t, "")
	mnt := filepath.Join(m.Dir, "small")
	os.MkdirAll(mnt, 0o755)
	if out, err := harness.RunOut("mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", mnt); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { harness.RunOut("umount", "-l", mnt) })
	box := filepath.Join(mnt, "Maildir")
	for _, s := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(box, s), 0o700)
	}
	harness.Chown(t, mnt, m.User)

	r := m.Deliver(harness.DeliverMessage("big", 2<<20), "--maildir", box)
	if r.Code != 75 {
		t.Fatalf("exit %d, want 75; stderr %q", r.Code, r.Stderr)
	}
	line := harness.OneLine(t, r.Stderr)
	for _, want := range []string{"cannot write a file in " + box + "/tmp: no space left on device", "free", "Fix: the filesystem that holds " + box + "/tmp is full: run: df -h " + box + "/tmp; then run: df -i " + box + "/tmp"} {
		if !strings.Contains(line, want) {
			t.Errorf("stderr lacks %q: %s", want, line)
		}
	}
	nothingDelivered(t, box)

	if r := m.Deliver(harness.DeliverMessage("small", 1000), "--maildir", box); r.Code != 0 {
		t.Fatalf("small message after the failure: exit %d %s", r.Code, r.Stderr)
	}
	onlyMessage(t, box)
}

// Over quota is temporary (75) or permanent (77) by mail.over_quota; under
// quota the delivery is counted in maildirsize.
func TestDeliverQuota(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, extra string
		quota       string
		size        int
		code        int
	}{
		{"over, temporary", "", "1000S\n0 0\n", 2000, 75},
		{"over, permanent", `over_quota = "permanent"`, "1000S\n0 0\n", 2000, 77},
		{"over count", "", "0S,1C\n100 1\n", 100, 75},
		{"under", "", "100000S\n0 0\n", 2000, 0},
		{"default quota from config", "quota = \"1K\"", "", 2000, 75},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := harness.NewMailEnv(t, c.extra)
			box := m.Maildir(filepath.Join(m.Root, "Maildir"))
			if c.quota != "" {
				os.WriteFile(filepath.Join(box, "maildirsize"), []byte(c.quota), 0o600)
				harness.Chown(t, box, m.User)
			}
			r := m.Deliver(harness.DeliverMessage("quota", c.size), "--maildir", box)
			if r.Code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.Code, c.code, r.Stderr)
			}
			if c.code == 0 {
				_, data := onlyMessage(t, box)
				ms, _ := os.ReadFile(filepath.Join(box, "maildirsize"))
				if want := fmt.Sprintf("%d 1\n", len(data)); !strings.HasSuffix(string(ms), want) {
					t.Errorf("maildirsize %q does not end with %q", ms, want)
				}
				return
			}
			line := harness.OneLine(t, r.Stderr)
			if !strings.Contains(line, "over quota") || !strings.Contains(line, "mail.over_quota") {
				t.Errorf("stderr: %s", line)
			}
			nothingDelivered(t, box)
		})
	}
}

// A message that already carries our Delivered-To is a loop: refused for
// good (5.4.6, exit 65), nothing stored.
func TestDeliverLoop(t *testing.T) {
	t.Parallel()
	m := harness.NewMailEnv(t, "")
	m.AddMailboxes("example.com", []string{"alice"}, nil)
	box := m.BoxOf("alice", "example.com")
	msg := append([]byte("Delivered-To: Alice@Example.com\n"), harness.DeliverMessage("loop", 100)...)
	r := m.Deliver(msg, "-d", "alice@example.com")
	if r.Code != 65 {
		t.Fatalf("exit %d, want 65; stderr %q", r.Code, r.Stderr)
	}
	if line := harness.OneLine(t, r.Stderr); !strings.Contains(line, "5.4.6") || !strings.Contains(line, "loop") {
		t.Errorf("stderr: %s", line)
	}
	nothingDelivered(t, box)

	// Courier passes Delivered-To with -A; that one counts as ours too.
	other := m.Maildir(filepath.Join(m.Root, "other"))
	msg = append([]byte("Delivered-To: list@example.org\n"), harness.DeliverMessage("loop2", 100)...)
	r = m.Deliver(msg, "--maildir", other, "-A", "Delivered-To: list@example.org")
	if r.Code != 65 {
		t.Fatalf("-A Delivered-To loop: exit %d, want 65; stderr %q", r.Code, r.Stderr)
	}
	nothingDelivered(t, other)

	// Someone else's Delivered-To is not a loop.
	msg = append([]byte("Delivered-To: bob@example.com\n"), harness.DeliverMessage("noloop", 100)...)
	if r := m.Deliver(msg, "-d", "alice@example.com"); r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	onlyMessage(t, box)
}

// What ebb adds, and the flags that choose it.
func TestDeliverHeadersAndFolders(t *testing.T) {
	t.Parallel()
	m := harness.NewMailEnv(t, "")
	m.AddMailboxes("example.com", []string{"alice"}, nil)
	body := harness.DeliverMessage("hdr", 200)
	cases := []struct {
		name   string
		args   []string
		folder string // on disk, below the Maildir
		prefix string
	}{
		{"-d and -f", []string{"-d", "alice@example.com", "-f", "bob@example.net"}, "",
			"Return-Path: <bob@example.net>\nDelivered-To: alice@example.com\n"},
		{"null sender", []string{"-d", "alice@example.com", "-f", ""}, "",
			"Return-Path: <>\nDelivered-To: alice@example.com\n"},
		{"no -f: no Return-Path", []string{"-d", "alice@example.com"}, "",
			"Delivered-To: alice@example.com\n"},
		{"-A twice", []string{"-d", "alice@example.com", "-A", "X-One: 1", "-A", "X-Two: two"}, "",
			"Delivered-To: alice@example.com\nX-One: 1\nX-Two: two\n"},
		{"-A Delivered-To replaces ours", []string{"-d", "alice@example.com", "-A", "Delivered-To: alias@example.com"}, "",
			"Delivered-To: alias@example.com\n"},
		{"-m folder", []string{"-d", "alice@example.com", "-m", "Work/Reports"}, ".Work.Reports",
			"Delivered-To: alice@example.com\n"},
		{"-m non-ASCII folder (modified UTF-7)", []string{"-d", "alice@example.com", "-m", "Entwürfe"}, ".Entw&APw-rfe",
			"Delivered-To: alice@example.com\n"},
	}
	box := m.BoxOf("alice", "example.com")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(box, c.folder)
			before := harness.MaildirFiles(t, dir, "new")
			r := m.Deliver(body, c.args...)
			if r.Code != 0 || r.Stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.Code, r.Stderr)
			}
			after := harness.MaildirFiles(t, dir, "new")
			if len(after) != len(before)+1 {
				t.Fatalf("%s/new: %d files, want %d", dir, len(after), len(before)+1)
			}
			var got []byte
			for _, f := range after {
				if !harness.HasString(before, f) {
					got, _ = os.ReadFile(f)
					checkSizes(t, f, got)
				}
			}
			if want := c.prefix + string(body); string(got) != want {
				t.Errorf("stored:\n%q\nwant:\n%q", prefixOf(got), prefixOf([]byte(want)))
			}
			if c.folder != "" {
				if _, err := os.Stat(filepath.Join(dir, "maildirfolder")); err != nil {
					t.Errorf("folder lacks its maildirfolder file: %v", err)
				}
			}
		})
	}
}

// Usage mistakes are 64 and deliver nothing.
func TestDeliverUsage(t *testing.T) {
	t.Parallel()
	m := harness.NewMailEnv(t, "")
	box := m.Maildir(filepath.Join(m.Root, "Maildir"))
	for _, args := range [][]string{
		{},
		{"--maildir", box, "-A", "no colon here"},
		{"--maildir", box, "-A", "X-Bad: a\nInjected: b"},
		{"--maildir", box, "-m", "a..b"},
		{"--maildir", box, "-f", "bob <evil>"},
		{"--maildir", box, "extra-argument"},
	} {
		r := m.Deliver(harness.DeliverMessage("usage", 10), args...)
		if r.Code != 64 {
			t.Errorf("%q: exit %d, want 64; stderr %q", args, r.Code, r.Stderr)
		}
	}
	nothingDelivered(t, box)
}

// An alias to two mailboxes: one written file, hard-linked into both.
func TestDeliverAliasFanOut(t *testing.T) {
	t.Parallel()
	m := harness.NewMailEnv(t, "")
	m.AddMailboxes("example.com", []string{"alice", "bob"}, map[string][]string{
		"team@example.com": {"alice@example.com", "bob@example.com"}})
	r := m.Deliver(harness.DeliverMessage("team", 5000), "-d", "team@example.com", "-f", "carol@example.net")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	a, adata := onlyMessage(t, m.BoxOf("alice", "example.com"))
	b, bdata := onlyMessage(t, m.BoxOf("bob", "example.com"))
	if !bytes.Equal(adata, bdata) {
		t.Error("the two mailboxes got different bytes")
	}
	sa, _ := os.Stat(a)
	sb, _ := os.Stat(b)
	if !os.SameFile(sa, sb) {
		t.Error("the two copies are not one file (hard link)")
	}
	if !bytes.HasPrefix(adata, []byte("Return-Path: <carol@example.net>\nDelivered-To: team@example.com\n")) {
		t.Errorf("prefix: %q", prefixOf(adata))
	}

	r = m.Deliver(harness.DeliverMessage("nobody", 100), "-d", "nobody@example.com")
	if r.Code != 67 {
		t.Errorf("unknown mailbox: exit %d, want 67 (EX_NOUSER); stderr %q", r.Code, r.Stderr)
	}
	harness.OneLine(t, r.Stderr)
}

func prefixOf(b []byte) []byte {
	if len(b) > 300 {
		return b[:300]
	}
	return b
}
