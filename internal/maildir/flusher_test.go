package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

type recordFlusher struct {
	mu   sync.Mutex
	dirs []string
	err  error
}

func (f *recordFlusher) Shares(string) bool { return true }

func (f *recordFlusher) Sync(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dirs = append(f.dirs, dir)
	return f.err
}

// With a Flusher, the finished file and the link are made durable through
// it (tmp/ before the link, new/ after it), in that order.
func TestFlusherMakesTheFileThenTheLinkDurable(t *testing.T) {
	f := &recordFlusher{}
	d, dst := deliverThrough(t, f)
	want := []string{filepath.Join(d, "tmp"), filepath.Join(d, "new")}
	if len(f.dirs) != 2 || f.dirs[0] != want[0] || f.dirs[1] != want[1] {
		t.Fatalf("flushed %q, want %q", f.dirs, want)
	}
	if b, err := os.ReadFile(dst); err != nil || string(b) != "Subject: x\n\nbody\n" {
		t.Fatalf("published %q, %v", b, err)
	}
}

// A failed flush fails the step: the file is not published, a link whose
// flush failed is taken back.
func TestFlusherErrorFailsTheDelivery(t *testing.T) {
	d := filepath.Join(t.TempDir(), "Maildir")
	if err := Ensure(d, true, false); err != nil {
		t.Fatal(err)
	}
	eio := errors.New("input/output error")
	n := NewNamer("h")
	n.Flusher = &recordFlusher{err: eio}
	tmp, err := CreateTmp(d, n)
	if err != nil {
		t.Fatal(err)
	}
	tmp.Write([]byte("x\n"))
	err = tmp.FinishWith(n)
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Path != tmp.Path || !errors.Is(err, eio) {
		t.Fatalf("FinishWith: %v, want a path error for %s wrapping the flush's error", err, tmp.Path)
	}
	if _, err := Publish(tmp.Path, d, tmp.Base, tmp.Size(), tmp.VSize(), "", n); !errors.Is(err, eio) {
		t.Fatalf("Publish: %v, want the flush's error", err)
	}
	tmp.Remove()
	if des, _ := os.ReadDir(filepath.Join(d, "new")); len(des) != 0 {
		t.Fatalf("new/ holds %d files after a failed flush, want none", len(des))
	}
}

type notSharing struct{ recordFlusher }

func (*notSharing) Shares(string) bool { return false }

// A Flusher that does not share a Maildir's filesystem is not used for
// it: the file and new/ get their own fsyncs.
func TestFlusherNotSharingTheMaildirIsNotUsed(t *testing.T) {
	f := &notSharing{}
	deliverThrough(t, f)
	if len(f.dirs) != 0 {
		t.Fatalf("flushed %q through a Flusher that does not share the Maildir", f.dirs)
	}
}

// deliverThrough delivers one message into a new Maildir with a Namer
// whose Flusher is f, and returns the Maildir and the published file.
func deliverThrough(t *testing.T, f Flusher) (maildir, published string) {
	t.Helper()
	d := filepath.Join(t.TempDir(), "Maildir")
	if err := Ensure(d, true, false); err != nil {
		t.Fatal(err)
	}
	n := NewNamer("h")
	n.Flusher = f
	tmp, err := CreateTmp(d, n)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.Write([]byte("Subject: x\n\nbody\n")); err != nil {
		t.Fatal(err)
	}
	if err := tmp.FinishWith(n); err != nil {
		t.Fatal(err)
	}
	dst, err := Publish(tmp.Path, d, tmp.Base, tmp.Size(), tmp.VSize(), "", n)
	if err != nil {
		t.Fatal(err)
	}
	tmp.Remove()
	return d, dst
}
