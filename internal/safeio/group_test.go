package safeio

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Concurrent callers on one directory all return without error, the
// directory is forgotten afterwards, and a missing directory's error
// reaches its caller.
func TestDirGroupSharesAndReports(t *testing.T) {
	dir := t.TempDir()
	var g DirGroup
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- g.SyncDir(dir)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(g.dirs) != 0 {
		t.Fatalf("%d directories still kept with nobody waiting", len(g.dirs))
	}
	if err := g.SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing directory: %v", err)
	}
	var none *DirGroup
	if err := none.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}

// Every caller covered by a failed flush gets its error, the callers of
// the next flush do not, and nothing is kept once all have returned: the
// error bookkeeping is per waiting caller, not a window of recent flushes
// that a late-waking caller could fall out of.
func TestGroupFailedFlushReachesEveryWaiter(t *testing.T) {
	eio := errors.New("EIO")
	release := make(chan struct{})
	var gen int
	g := &Group{}
	g.Flush = func() error {
		gen++
		if gen == 1 {
			<-release // hold the first flush while the others queue up
			return nil
		}
		if gen == 2 {
			return eio
		}
		return nil
	}
	first := make(chan error, 1)
	go func() { first <- g.Do() }()
	for g.Flushes() == 0 && !g.isRunning() {
		time.Sleep(time.Millisecond)
	}
	const n = 32
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() { errs <- g.Do() }() // all arrive during flush 1: flush 2 covers them
	}
	for g.waitersFor(2) < n {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first flush: %v", err)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; !errors.Is(err, eio) {
			t.Fatalf("waiter %d: got %v, want the failed flush's error", i, err)
		}
	}
	if err := g.Do(); err != nil {
		t.Fatalf("the flush after: %v", err)
	}
	g.mu.Lock()
	left := len(g.wants)
	g.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d generations still kept with nobody waiting", left)
	}
}

func (g *Group) isRunning() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running
}

func (g *Group) waitersFor(gen uint64) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if w := g.wants[gen]; w != nil {
		return w.waiters
	}
	return 0
}
