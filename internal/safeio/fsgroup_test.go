package safeio

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

// A bound directory flushes in the same group as Sync of any directory of
// its filesystem: a flush of either counts for both.
func TestFSGroupBoundIsTheFilesystemsGroup(t *testing.T) {
	var g FSGroup
	a, b := t.TempDir(), t.TempDir()
	bound, err := g.Bind(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := bound.Sync(); err != nil || g.Flushes() != 1 {
		t.Fatalf("Bound.Sync: %v, %d flushes", err, g.Flushes())
	}
	if err := g.Sync(b); err != nil || g.Flushes() != 2 {
		t.Fatalf("Sync: %v, %d flushes", err, g.Flushes())
	}
	g.mu.Lock()
	fss := len(g.fss)
	g.mu.Unlock()
	if fss != 1 {
		t.Fatalf("%d groups, want the bound one", fss)
	}
	if _, err := g.Bind(filepath.Join(a, "nope")); err == nil {
		t.Fatal("bound a missing directory")
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

// A lingering caller rides on the next eager caller's flush instead of
// starting its own; alone, it flushes itself once the linger is over.
func TestGroupDoWithinRidesOnAnotherFlush(t *testing.T) {
	var n atomic.Int32
	g := &Group{Flush: func() error { n.Add(1); return nil }}
	done := make(chan error, 1)
	go func() { done <- g.DoWithin(5 * time.Second) }()
	time.Sleep(50 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("a lingering caller returned before any flush")
	default:
	}
	if err := g.Do(); err != nil { // an eager caller: starts a flush at once
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the lingering caller did not return with the eager caller's flush")
	}
	if got := n.Load(); got != 1 {
		t.Fatalf("%d flushes, want 1 shared", got)
	}

	start := time.Now()
	if err := g.DoWithin(30 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 30*time.Millisecond || n.Load() != 2 {
		t.Fatalf("alone: returned after %v with %d flushes, want its own flush after the 30ms linger", el, n.Load())
	}
}

// The error of the flush that covered a lingering caller is its error.
func TestGroupDoWithinGetsTheCoveringFlushError(t *testing.T) {
	eio := errors.New("EIO")
	g := &Group{Flush: func() error { return eio }}
	if err := g.DoWithin(time.Millisecond); !errors.Is(err, eio) {
		t.Fatalf("got %v, want the flush's error", err)
	}
}

// SameFS shares only its own filesystem: a directory on another one
// (/proc here) is not flushed with syncfs, and a directory that cannot be
// examined shares nothing.
func TestLingeringSameFSSharesOnlyItsFilesystem(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	var g FSGroup
	if !g.Lingering(time.Millisecond).Shares("/proc") {
		t.Error("an unrestricted group must share every directory")
	}
	l := g.Lingering(time.Millisecond).SameFS(dir)
	if !l.Shares(sub) {
		t.Error("a directory on the same filesystem is not shared")
	}
	if l.Shares("/proc") {
		t.Error("/proc (another filesystem) is shared")
	}
	if g.Lingering(time.Millisecond).SameFS(filepath.Join(dir, "missing")).Shares(sub) {
		t.Error("a group restricted to a missing directory shares something")
	}
	// Sync of a shared directory flushes the filesystem SameFS found,
	// without looking at the directory again (its caller asked Shares).
	if err := l.Sync(sub); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(sub); err != nil {
		t.Fatal(err)
	}
	before := g.Flushes()
	if err := l.Sync(sub); err != nil {
		t.Fatalf("restricted Sync looked at the directory again: %v", err)
	}
	if g.Flushes() != before+1 {
		t.Fatalf("%d flushes after Sync, want %d", g.Flushes(), before+1)
	}
}
