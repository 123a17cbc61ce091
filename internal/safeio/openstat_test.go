package safeio

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// OpenStat gives the open file and its fstat: the size and time a reader
// of the whole file needs; a missing file is the *os.PathError of open.
func TestOpenStatGivesTheFileAndItsSize(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m")
	if err := os.WriteFile(p, []byte("hello, world\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, st, err := OpenStat(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, _ := os.Stat(p)
	if st.Size() != 13 || !st.ModTime().Equal(want.ModTime()) || !st.Mode().IsRegular() {
		t.Fatalf("stat %d %v %v, want 13 %v regular", st.Size(), st.ModTime(), st.Mode(), want.ModTime())
	}
	if b, err := io.ReadAll(f); err != nil || string(b) != "hello, world\n" {
		t.Fatalf("read %q %v", b, err)
	}

	f, st, err = OpenStat(filepath.Join(t.TempDir(), "missing"))
	var pe *os.PathError
	if f != nil || st != nil || !errors.As(err, &pe) || pe.Op != "open" || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v %v %v", f, st, err)
	}
}
