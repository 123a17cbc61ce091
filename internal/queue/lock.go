package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

// LockFile is the spool's lock, relative to the spool directory. The holder
// keeps an flock(2) on it and writes its pid and command line into it, so
// that a refused second instance can name who holds the spool.
const LockFile = "lock"

// spoolLock is a held lock on a spool.
type spoolLock struct{ f *os.File }

// errLocked is returned by tryLock when another process holds the lock.
type lockedError struct {
	path   string
	holder string // "pid 123 (ebb serve -c /etc/ebb/ebb.toml)"
}

func (e *lockedError) Error() string {
	return fmt.Sprintf("the spool lock %s is held by %s", e.path, e.holder)
}

// tryLock takes the spool lock without waiting.
func tryLock(spool string) (*spoolLock, error) {
	path := filepath.Join(spool, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &lockedError{path: path, holder: lockHolder(path)}
		}
		return nil, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	// The content is informative only; the flock is the lock. A crashed
	// holder leaves its pid behind, and the kernel has released its flock.
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "%d\n%s\n", os.Getpid(), strings.Join(os.Args, " "))
	}
	return &spoolLock{f: f}, nil
}

// lock takes the spool lock, waiting up to wait for a short-lived holder
// (an offline `ebb queue` command) to finish.
func lock(spool string, wait time.Duration) (*spoolLock, error) {
	deadline := time.Now().Add(wait)
	for {
		l, err := tryLock(spool)
		var le *lockedError
		if err == nil || !errors.As(err, &le) || time.Now().After(deadline) {
			return l, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockHolder describes the process named in the lock file.
func lockHolder(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "another process"
	}
	lines := strings.SplitN(strings.TrimSpace(string(b)), "\n", 2)
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil {
		return "another process"
	}
	s := "pid " + strconv.Itoa(pid)
	if len(lines) == 2 && lines[1] != "" {
		s += " (" + lines[1] + ")"
	}
	return s
}

func (l *spoolLock) release() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Truncate(0)
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}

// lockError turns a failure to take the spool lock into the boundary error.
func lockError(component, spool string, err error, setting *diag.Setting) *diag.Error {
	var le *lockedError
	if errors.As(err, &le) {
		e := diag.New("lock", "lock the spool with", le.path, nil)
		e.Component = component
		e.Reason = "held by " + le.holder
		e.Setting = setting
		e.Class = diag.Temporary
		e.SetFix(diag.Because("only one ebb serve may use a spool", diag.Say("stop the other instance ("+le.holder+"), or give this one another queue.spool")))
		return e
	}
	return diag.PathError(component, "lock", "lock the spool with", filepath.Join(spool, LockFile), err, setting)
}

// LockHolder names the process holding the spool's lock ("pid 123 (ebb
// serve -c ...)"), or "" when nobody holds it. It takes no lock and creates
// nothing, so doctor and a refused start can call it as any user.
func LockHolder(spool string) string {
	path := filepath.Join(spool, LockFile)
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return ""
	}
	return lockHolder(path)
}
