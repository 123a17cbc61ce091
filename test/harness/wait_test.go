package harness

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A wait on a Maildir's new/ that does not exist yet is woken by the
// kernel when the directories and the message appear, not by a timer: its
// period is a minute here, so only inotify ends it well before.
func TestWaitFilesWakesOnTheEvent(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "mail", "example.test", "bob", "Maildir", "new")
	created := make(chan struct{})
	calls := 0
	start := time.Now()
	got := waitOn(2*time.Minute, time.Minute, func() bool {
		calls++
		if calls == 1 {
			// After the first check, before the watch begins or while it
			// watches: mkdir -p and a message, each step an event.
			go func() {
				os.MkdirAll(dir, 0o755)
				os.WriteFile(filepath.Join(dir, "1.eml"), []byte("x"), 0o644)
				close(created)
			}()
		}
		return countIn(dir) >= 1
	}, dir)
	if !got {
		t.Fatal("WaitOn did not see the message")
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("the wait took %v: woken by its one-minute timer, not by the directories and the file appearing", d)
	}
	<-created

	// The watch itself: a change to a watched directory ends wait long
	// before its timeout.
	w := newWatch([]string{dir})
	defer w.close()
	if w.fd < 0 {
		t.Fatal("no inotify instance")
	}
	go os.WriteFile(filepath.Join(dir, "2.eml"), []byte("x"), 0o644)
	start = time.Now()
	w.wait(time.Minute)
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("wait took %v: not woken by the new file", d)
	}

	if WaitFiles(dir, 3, 100*time.Millisecond) {
		t.Fatal("WaitFiles saw 3 files in a directory holding 2")
	}
}
