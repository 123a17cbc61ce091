package safeio

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplacesWholeAndLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state")
	for _, content := range []string{"first", "second, longer"} {
		if err := WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(p)
		if string(got) != content {
			t.Errorf("got %q want %q", got, content)
		}
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestLinkNewNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	os.WriteFile(src, []byte("new"), 0o600)
	os.WriteFile(dst, []byte("delivered earlier"), 0o600)
	err := LinkNew(src, dst)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("want EEXIST, got %v", err)
	}
	got, _ := os.ReadFile(dst)
	if string(got) != "delivered earlier" {
		t.Errorf("existing file changed: %q", got)
	}
	if _, err := os.Stat(src); err != nil {
		t.Error("the source must stay for the caller to retry or remove")
	}
}

func TestLinkNewMovesTheFile(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	os.WriteFile(src, []byte("msg"), 0o600)
	if err := LinkNew(src, dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("source still there: %v", err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "msg" {
		t.Errorf("dst %q", got)
	}
}

func TestWriteFileInMissingDirectoryFails(t *testing.T) {
	if err := WriteFile(filepath.Join(t.TempDir(), "no", "x"), nil, 0o600); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v", err)
	}
}

// OpenFile behaves as os.OpenFile: it creates with the mode asked (under
// the umask), O_EXCL refuses an existing file with an *os.PathError that
// errors.Is finds, and the file reads, writes, seeks and syncs.
func TestOpenFileAsOSOpenFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	f, err := OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("hello"); err != nil || f.Sync() != nil || f.Name() != p {
		t.Fatalf("write %v, name %q", err, f.Name())
	}
	f.Close()
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	_, err = OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "open" || pe.Path != p || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("O_EXCL on an existing file: %#v", err)
	}
	if _, err := OpenFile(p+".none", os.O_RDONLY, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a missing file: %v", err)
	}
	r, err := OpenFile(p, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b := make([]byte, 3)
	if n, err := r.ReadAt(b, 2); err != nil || string(b[:n]) != "llo" {
		t.Fatalf("ReadAt: %q, %v", b[:n], err)
	}
}
