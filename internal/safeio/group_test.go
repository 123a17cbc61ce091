package safeio

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
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
