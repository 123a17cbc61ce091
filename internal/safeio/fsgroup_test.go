package safeio

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Concurrent callers on one filesystem share flushes: fewer syncfs calls
// than callers, at least one, and every file written before a call is on
// disk when it returns (here: readable with its content; the crash side is
// test/'s kill -9 test).
func TestFSGroupSharesFlushesPerFilesystem(t *testing.T) {
	var g FSGroup
	a, b := t.TempDir(), t.TempDir()
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			dir := a
			if i%2 == 1 {
				dir = b // the same filesystem: the same group
			}
			p := filepath.Join(dir, "f"+string(rune('a'+i%26))+string(rune('0'+i/26)))
			if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
				errs <- err
				return
			}
			errs <- g.Sync(dir)
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := g.Flushes()
	t.Logf("%d callers, %d syncfs", n, got)
	if got == 0 || got > n {
		t.Fatalf("%d flushes for %d callers", got, n)
	}
	g.mu.Lock()
	fss := len(g.fss)
	g.mu.Unlock()
	if fss != 1 {
		t.Fatalf("%d groups for two directories of one filesystem, want 1", fss)
	}
}

func TestFSGroupMissingDirIsAPathError(t *testing.T) {
	var g FSGroup
	err := g.Sync(filepath.Join(t.TempDir(), "nope"))
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "stat" {
		t.Fatalf("got %v, want a stat *os.PathError", err)
	}
}
