package harness

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Waiting: a test watches for the event it waits for instead of sleeping.
// Where the event is a file (a message in a Maildir's new/, a log line, a
// socket) the wait is woken by the kernel (inotify) when the file or its
// directory changes; where no file tells (a TCP listener, a command's
// output) it checks every 20 ms. Deadlines are generous: a wait lasts only
// as long as the event takes.

// WaitOn waits until cond is true, checking it whenever one of paths (a
// file or a directory; one that does not exist yet is watched from its
// nearest existing parent) changes, and at least every 250 ms. It
// reports whether cond came true within.
func WaitOn(within time.Duration, cond func() bool, paths ...string) bool {
	return waitOn(within, 0, cond, paths...)
}

// waitOn is WaitOn checking at least every every (0: the watch's own
// period, 250 ms with inotify): its test makes the period longer than the
// wait may take, so that only the kernel can end it in time.
func waitOn(within, every time.Duration, cond func() bool, paths ...string) bool {
	deadline := time.Now().Add(within)
	if cond() {
		return true
	}
	w := newWatch(paths)
	defer w.close()
	if every > 0 {
		w.every = every
	}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return cond()
		}
		w.wait(min(left, w.every))
		if cond() {
			return true
		}
	}
}

// watch is an inotify instance on a set of paths; without inotify (or
// without paths) it only sleeps 20 ms between checks.
type watch struct {
	fd    int
	paths []string
	every time.Duration
}

const watchMask = unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_CREATE | unix.IN_MOVED_TO |
	unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_ATTRIB

func newWatch(paths []string) *watch {
	w := &watch{fd: -1, paths: paths, every: 20 * time.Millisecond}
	if len(paths) == 0 {
		return w
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return w
	}
	w.fd, w.every = fd, 250*time.Millisecond
	w.add()
	return w
}

// add watches every path, or its nearest existing parent (which tells when
// the path appears). Watching a watched inode again changes nothing.
func (w *watch) add() {
	for _, p := range w.paths {
		w.addPath(p)
	}
}

// addPath watches path or its nearest existing parent. A directory on the
// way that appears after its own watch failed but before its parent's
// began tells nothing to either: then the walk starts again from path.
func (w *watch) addPath(path string) {
	for tries := 0; tries < 100; tries++ {
		p, missing := path, ""
		for {
			_, err := unix.InotifyAddWatch(w.fd, p, watchMask)
			if err == nil || !errors.Is(err, unix.ENOENT) {
				break
			}
			parent := filepath.Dir(p)
			if parent == p {
				return
			}
			p, missing = parent, p
		}
		if missing == "" {
			return // path itself is watched
		}
		if _, err := os.Lstat(missing); err != nil {
			return // its parent's watch tells when it appears
		}
	}
}

// wait blocks until a watched path changes or d passes.
func (w *watch) wait(d time.Duration) {
	if w.fd < 0 {
		time.Sleep(d)
		return
	}
	fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, int(d.Milliseconds())+1); err != nil || n == 0 {
		return
	}
	var buf [4096]byte
	for {
		if n, err := unix.Read(w.fd, buf[:]); n <= 0 || err != nil {
			break
		}
	}
	w.add() // a path that appeared is watched itself now
}

func (w *watch) close() {
	if w.fd >= 0 {
		unix.Close(w.fd)
	}
}

// countIn is how many entries dir has (0 when it does not exist).
func countIn(dir string) int {
	ents, _ := os.ReadDir(dir)
	return len(ents)
}

// WaitFiles waits until dir (a Maildir's new/, say) holds at least n
// entries, woken by the kernel as they arrive, and reports whether it did
// within.
func WaitFiles(dir string, n int, within time.Duration) bool {
	return WaitOn(within, func() bool { return countIn(dir) >= n }, dir)
}

// WaitForFile is WaitFor for an event a file tells: cond is checked again
// whenever one of paths changes.
func WaitForFile(t testing.TB, what string, within time.Duration, cond func() bool, paths ...string) {
	t.Helper()
	if !WaitOn(within, cond, paths...) {
		t.Fatalf("waited %s for %s", within, what)
	}
}

// WaitLogFile waits until the log file path holds s at least n times,
// woken as the daemon writes it, and fails the test with the log's tail
// when within passes first.
func WaitLogFile(t testing.TB, path, s string, n int, within time.Duration) {
	t.Helper()
	log := func() string { b, _ := os.ReadFile(path); return string(b) }
	if !WaitOn(within, func() bool { return strings.Count(log(), s) >= n }, path) {
		t.Fatalf("waited %s for %d log lines with %q in %s, found %d; log tail:\n%s",
			within, n, s, path, strings.Count(log(), s), Tail(log(), 30))
	}
}

// QueueDir is the directory of a spool's message files: what changes
// whenever mailq's output does.
func QueueDir(spool string) string { return filepath.Join(spool, "queue") }

// WaitSocket waits until path is a unix socket (a daemon's pickup socket),
// and reports whether it was within.
func WaitSocket(path string, within time.Duration) bool {
	return WaitOn(within, func() bool {
		fi, err := os.Stat(path)
		return err == nil && fi.Mode()&os.ModeSocket != 0
	}, path)
}
