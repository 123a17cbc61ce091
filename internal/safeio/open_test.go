package safeio

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// OpenFile behaves as os.OpenFile for what the spool and Maildir code
// use: O_EXCL refuses an existing name with fs.ErrExist, the mode is the
// one asked (umask aside), the file reads back what was written, a missing
// file is fs.ErrNotExist in an *os.PathError naming the path, and the
// descriptor is not inherited by children (O_CLOEXEC).
func TestOpenFileLikeOsOpenFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	f, err := OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode: %v %v", st, err)
	}
	if _, err := OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("O_EXCL on an existing file: %v", err)
	}
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Name() != p {
		t.Errorf("Name() = %q", r.Name())
	}
	b, err := io.ReadAll(r)
	if err != nil || string(b) != "hello" {
		t.Fatalf("read %q %v", b, err)
	}
	if _, err := r.Seek(1, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	fl, err := unixFcntlGetfd(r)
	if err != nil || fl&1 == 0 { // FD_CLOEXEC
		t.Errorf("FD_CLOEXEC not set: %d %v", fl, err)
	}
	_, err = Open(filepath.Join(dir, "missing"))
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Path != filepath.Join(dir, "missing") || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %#v", err)
	}
}

func unixFcntlGetfd(f *os.File) (int, error) {
	return unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
}
