package directory_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/mailuser"
)

// owner is the mail user the tests open for: nobody when we are root (the
// admin commands' case), else ourselves.
func owner() *mailuser.User {
	if os.Geteuid() == 0 {
		return &mailuser.User{Name: "nobody", UID: 65534, GID: 65534}
	}
	return &mailuser.User{Name: "self", UID: os.Geteuid(), GID: os.Getegid()}
}

func ownerOf(t *testing.T, p string) string {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		return "missing"
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
}

// What an admin command creates as root belongs to the mail user: the data
// directory, the database and the files SQLite leaves beside it, after
// the open and again after Close.
func TestOpenForOwnerGivesItTheFiles(t *testing.T) {
	o := owner()
	want := fmt.Sprintf("%d:%d", o.UID, o.GID)
	dir := filepath.Join(t.TempDir(), "lib", "ebb")
	cfg := testConfig(dir)
	d, err := directory.OpenWith(context.Background(), cfg, directory.Options{Owner: o})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AddDomain(context.Background(), "example.org"); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "directory.db")
	for _, p := range []string{dir, db, db + "-wal", db + "-shm"} {
		if got := ownerOf(t, p); got != want {
			t.Errorf("after open: %s is %s, want %s", p, got, want)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		if got := ownerOf(t, p); got != want && got != "missing" {
			t.Errorf("after close: %s is %s, want %s", p, got, want)
		}
	}
	if fi, _ := os.Stat(db); fi.Mode().Perm() != 0o640 {
		t.Errorf("the database holds password hashes: mode %04o, want 0640", fi.Mode().Perm())
	}
}

// A data directory the mail user cannot write is refused before anything
// is created there, with a chown of that directory (ebb's own) as the fix;
// a directory the system shares gets the setting to change instead.
func TestOpenForOwnerRefusesADataDirItCannotWrite(t *testing.T) {
	o := &mailuser.User{Name: "vmail", UID: os.Geteuid() + 4242, GID: os.Getegid() + 4242}
	dir := filepath.Join(t.TempDir(), "state")
	os.Mkdir(dir, 0o755)
	_, err := directory.OpenWith(context.Background(), testConfig(dir), directory.Options{Owner: o})
	d, ok := diag.As(err)
	if !ok || d.ExitCode() != diag.ExNoPerm || d.Path != dir || d.Hint != "run: chown vmail:vmail "+dir {
		t.Fatalf("open in a directory vmail cannot write: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "directory.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the database was created although the open was refused")
	}
	// /var/lib itself (the system's) is never to be chowned.
	_, err = directory.OpenWith(context.Background(), testConfig("/var/lib"), directory.Options{Owner: o})
	if d, ok := diag.As(err); !ok || !strings.Contains(d.Hint, "/var/lib is shared by the system, never to be given to ebb") || strings.Contains(d.Hint, "chown") {
		t.Fatalf("open in /var/lib for vmail: %v", err)
	}
	// Read-only opens create nothing and give nothing: Owner is ignored.
	_, err = directory.OpenWith(context.Background(), testConfig(dir), directory.Options{Owner: o, ReadOnly: true})
	if d, ok := diag.As(err); !ok || !errors.Is(d, os.ErrNotExist) {
		t.Fatalf("read-only open of a missing database: %v", err)
	}
}

// The admin errors carry the exit code a command ends with.
func TestAdminErrorsCarryTheirExitCodes(t *testing.T) {
	for err, code := range map[error]int{
		directory.ErrNotFound:     diag.ExNoUser,
		directory.ErrNotHosted:    diag.ExNoHost,
		directory.ErrExists:       diag.ExCantCreat,
		directory.ErrHasMailboxes: diag.ExCantCreat,
		directory.ErrAuthFailed:   diag.ExNoPerm,
	} {
		var ec interface{ ExitCode() int }
		wrapped := fmt.Errorf("mailbox a@example.org: %w", err)
		if !errors.As(wrapped, &ec) || ec.ExitCode() != code || !errors.Is(wrapped, err) {
			t.Errorf("%v: exit code %v, want %d", err, ec, code)
		}
	}
}
