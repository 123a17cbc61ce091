package mailuser

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

func cfgFor(t *testing.T, user, group string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ebb.toml")
	os.WriteFile(path, fmt.Appendf(nil, "[server]\nuser = %q\ngroup = %q\n", user, group), 0o644)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestLookupFindsUserAndGroup(t *testing.T) {
	u, err := Lookup(cfgFor(t, "nobody", ""))
	if err != nil || u.Name != "nobody" || u.UID != 65534 || u.GID != 65534 {
		t.Fatalf("Lookup(nobody) = %+v, %v", u, err)
	}
	u, err = Lookup(cfgFor(t, "nobody", "root"))
	if err != nil || u.UID != 65534 || u.GID != 0 {
		t.Fatalf("Lookup(nobody, group root) = %+v, %v; want server.group's gid", u, err)
	}
}

func TestLookupNamesTheMissingSetting(t *testing.T) {
	for _, tc := range []struct{ user, group, key, hint string }{
		{"ebb-no-such-user", "", "server.user", "adduser --system --group --no-create-home --home /nonexistent ebb-no-such-user"},
		{"nobody", "ebb-no-such-group", "server.group", "addgroup --system ebb-no-such-group"},
	} {
		_, err := Lookup(cfgFor(t, tc.user, tc.group))
		d, ok := diag.As(err)
		if !ok {
			t.Fatalf("%s: %v is not a diag error", tc.key, err)
		}
		if d.Setting == nil || d.Setting.Key != tc.key || d.ExitCode() != diag.ExNoUser || d.Temporary() || !strings.Contains(d.Hint, tc.hint) {
			t.Errorf("%s: %s (exit %d)", tc.key, d.Sentence(), d.ExitCode())
		}
		if !strings.Contains(d.Sentence(), tc.key+` "ebb-no-such-`) {
			t.Errorf("%s: the sentence does not name the setting and its value: %s", tc.key, d.Sentence())
		}
	}
}

// target is the user tests give files to: nobody when we are root (a
// real change of owner), else ourselves (chown to oneself is allowed).
func target(t *testing.T) *User {
	if os.Geteuid() == 0 {
		return &User{Name: "nobody", UID: 65534, GID: 65534}
	}
	return &User{Name: "self", UID: os.Geteuid(), GID: os.Getegid()}
}

func owner(t *testing.T, p string) (int, int) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

func TestGiveChownsWhatExistsAndSkipsWhatDoesNot(t *testing.T) {
	u := target(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "directory.db")
	os.WriteFile(db, nil, 0o640)
	os.Symlink("/etc/passwd", db+"-shm") // a link is given, not what it points to
	if err := u.Give(db, db+"-wal", db+"-shm"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{db, db + "-shm"} {
		if uid, gid := owner(t, p); uid != u.UID || gid != u.GID {
			t.Errorf("%s is %d:%d, want %d:%d", p, uid, gid, u.UID, u.GID)
		}
	}
	if uid, _ := owner(t, "/etc/passwd"); uid != 0 {
		t.Errorf("Give followed the symlink: /etc/passwd is uid %d", uid)
	}
	if _, err := os.Lstat(db + "-wal"); !os.IsNotExist(err) {
		t.Errorf("Give created %s-wal", db)
	}
	var nobody *User
	if err := nobody.Give("/etc/passwd"); err != nil {
		t.Errorf("a nil user gives nothing, and fails at nothing: %v", err)
	}
}

func TestGiveNamesThePathThatFailed(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	err := target(t).Give(filepath.Join(file, "directory.db"))
	pe, ok := err.(*fs.PathError)
	if !ok || pe.Op != "chown" || pe.Path != filepath.Join(file, "directory.db") || pe.Err != syscall.ENOTDIR {
		t.Fatalf("Give below a file = %#v", err)
	}
}

func TestMkdirAllGivesEveryNewDirectory(t *testing.T) {
	u := target(t)
	base := t.TempDir()
	deep := filepath.Join(base, "lib", "ebb", "dkim")
	if p, err := u.MkdirAll(deep, 0o750); err != nil {
		t.Fatalf("MkdirAll: %s: %v", p, err)
	}
	for _, d := range []string{filepath.Join(base, "lib"), filepath.Join(base, "lib", "ebb"), deep} {
		fi, err := os.Stat(d)
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
			t.Errorf("%s: %v %v", d, fi.Mode(), err)
			continue
		}
		if !u.Owns(fi) {
			t.Errorf("%s is not given to %d:%d", d, u.UID, u.GID)
		}
	}
	// The base existed: it stays as it was.
	if uid, _ := owner(t, base); uid != os.Geteuid() {
		t.Errorf("MkdirAll changed the owner of %s, which existed", base)
	}
	// A file in the way: the path that failed comes back.
	os.WriteFile(filepath.Join(base, "file"), nil, 0o644)
	if p, err := u.MkdirAll(filepath.Join(base, "file", "sub"), 0o700); err == nil || p != filepath.Join(base, "file", "sub") {
		t.Errorf("MkdirAll below a file = %q, %v", p, err)
	}
	var self *User
	if p, err := self.MkdirAll(filepath.Join(base, "mine", "x"), 0o700); err != nil {
		t.Errorf("a nil user's MkdirAll: %s: %v", p, err)
	} else if uid, _ := owner(t, filepath.Join(base, "mine", "x")); uid != os.Geteuid() {
		t.Errorf("a nil user's MkdirAll gave the directory away")
	}
}

// fakeDir is a FileInfo for CanWrite.
type fakeDir struct {
	mode     fs.FileMode
	uid, gid uint32
}

func (f fakeDir) Name() string       { return "d" }
func (f fakeDir) Size() int64        { return 0 }
func (f fakeDir) Mode() fs.FileMode  { return fs.ModeDir | f.mode }
func (f fakeDir) ModTime() time.Time { return time.Time{} }
func (f fakeDir) IsDir() bool        { return true }
func (f fakeDir) Sys() any           { return &syscall.Stat_t{Uid: f.uid, Gid: f.gid} }

func TestCanWriteByModeBits(t *testing.T) {
	vmail := &User{Name: "vmail", UID: 500, GID: 500}
	for _, tc := range []struct {
		dir  fakeDir
		want bool
	}{
		{fakeDir{0o700, 500, 0}, true},  // its own
		{fakeDir{0o500, 500, 0}, false}, // its own, not writable
		{fakeDir{0o755, 0, 0}, false},   // root's /var/lib
		{fakeDir{0o770, 0, 500}, true},  // through the group
		{fakeDir{0o750, 0, 500}, false}, // the group may only read
		{fakeDir{0o1777, 0, 0}, true},   // /tmp-like
		{fakeDir{0o077, 500, 0}, false}, // owner bits decide for the owner
		{fakeDir{0o707, 0, 500}, false}, // group bits for the group
	} {
		if got := vmail.CanWrite(tc.dir); got != tc.want {
			t.Errorf("mode %04o %d:%d: CanWrite = %v, want %v", tc.dir.mode, tc.dir.uid, tc.dir.gid, got, tc.want)
		}
	}
	root := &User{Name: "root"}
	if !root.CanWrite(fakeDir{0o500, 1, 1}) {
		t.Error("root writes everywhere")
	}
}

// TestBecome runs this test binary again as a child that becomes the
// user and says who it is then.
func TestBecome(t *testing.T) {
	if os.Getenv("MAILUSER_BECOME") != "" {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBecomeChild$")
	cmd.Env = append(os.Environ(), "MAILUSER_BECOME=1")
	out, err := cmd.CombinedOutput()
	want := "uid 65534 gid 65534 groups [65534]"
	if os.Geteuid() != 0 {
		want = "setgroups(65534): operation not permitted"
	}
	if err != nil || !strings.Contains(string(out), want) {
		t.Errorf("the child said %q (%v); want %q", out, err, want)
	}
}

func TestBecomeChild(t *testing.T) {
	if os.Getenv("MAILUSER_BECOME") == "" {
		return
	}
	u := &User{Name: "nobody", UID: 65534, GID: 65534}
	if err := u.Become(); err != nil {
		fmt.Println(err)
		return
	}
	groups, _ := os.Getgroups()
	fmt.Printf("uid %d gid %d groups %v\n", os.Geteuid(), os.Getegid(), groups)
}
