package fetch

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/internal/diag"

	"github.com/ebbmail/ebb/internal/fetchstate"
)

// tlsConfig is the account's TLS: verification on unless the account was
// added with --insecure-skip-verify, against the system roots or its CA
// file (a self-signed or private-CA server).
func tlsConfig(a *fetchstate.FetchAccount, readAs *diag.Identity) (*tls.Config, error) {
	c := &tls.Config{ServerName: a.Host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: !a.Verify}
	if a.CAFile != "" {
		if readAs != nil {
			if err := readableBy(a.CAFile, readAs); err != nil {
				return nil, caFileError(a, err, readAs)
			}
		}
		pem, err := os.ReadFile(a.CAFile)
		if err != nil {
			return nil, caFileError(a, err, nil)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fail(CauseLocal, "read the CA file "+a.CAFile, errors.New("no PEM certificate in it"),
				diag.Because("--ca-file takes the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)", diag.Say("run: ebb fetch set "+a.Name+" --ca-file A-PEM-FILE")))
		}
		c.RootCAs = pool
	}
	return c, nil
}

// caFileError is the account's CA file that cannot be read, by this
// process (readAs nil) or by who: diag's path error with the owner, the
// mode and the user, and its safe fix.
func caFileError(a *fetchstate.FetchAccount, err error, who *diag.Identity) error {
	doing := "read the CA file (--ca-file) of fetch account " + a.Name + ":"
	if who == nil {
		return diag.PathError(Component+" "+a.Name, "open", doing, a.CAFile, diag.UnwrapPath(err), nil)
	}
	de := diag.PathErrorAs(Component+" "+a.Name, "open", doing, a.CAFile, diag.UnwrapPath(err), nil, who)
	if b, rerr := os.ReadFile(a.CAFile); rerr == nil && holdsKey(b) {
		// A key kept with the certificate: the file stays closed; the
		// certificate alone is what --ca-file wants, and it is public.
		de.SetFix(diag.Because("the file holds a private key besides the certificate, so its access is not widened; --ca-file wants the CA certificate alone, which is public",
			diag.Say("put the certificate in a file of its own that "+whoName(who)+" can read, then run: ebb fetch set "+a.Name+" --ca-file THAT-FILE")))
		return de
	}
	if dir := closedDirAbove(a.CAFile, who); dir != "" && de.Found != nil && de.Found.Kind == "file" && de.Found.ReadableBy(who) {
		// The file's own mode lets who read it: a directory above does
		// not. That directory is not widened (what else is in it?).
		why := fmt.Sprintf("the directory %s is closed to %s", dir, whoName(who))
		if diag.IsPublicCertificate(a.CAFile) {
			why += "; the file holds certificates only, which are public"
		}
		de.SetFix(diag.Because(why, diag.Say("copy the file to a directory "+whoName(who)+" can enter, then run: ebb fetch set "+a.Name+" --ca-file THE-COPY")))
	}
	return de
}

// holdsKey reports whether b has a PEM block of a private key.
func holdsKey(b []byte) bool {
	for {
		blk, rest := pem.Decode(b)
		if blk == nil {
			return false
		}
		if strings.Contains(blk.Type, "PRIVATE KEY") {
			return true
		}
		b = rest
	}
}

func whoName(who *diag.Identity) string {
	if who.User != "" {
		return who.User
	}
	return fmt.Sprintf("uid %d", who.UID)
}

// closedDirAbove is the first directory above path that who may not
// search, or "".
func closedDirAbove(path string, who *diag.Identity) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	var dirs []string
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		dirs = append([]string{d}, dirs...)
		if d == "/" {
			break
		}
	}
	for _, d := range dirs {
		var st syscall.Stat_t
		if err := syscall.Stat(d, &st); err != nil || !permits(&st, who, 0o1) {
			return d
		}
	}
	return ""
}

// permits reports whether the mode bits of st give who bits (4 read,
// 1 search).
func permits(st *syscall.Stat_t, who *diag.Identity, bits uint32) bool {
	m := st.Mode & 0o777
	switch {
	case who.UID == 0:
		return true
	case int(st.Uid) == who.UID:
		return m&(bits<<6) != 0
	case int(st.Gid) == who.GID:
		return m&(bits<<3) != 0
	}
	return m&bits != 0
}

// readableBy reports whether who (a uid and its primary group only, as
// ebb serve runs after dropping root: daemon/privileges.go) can read
// path: search permission on every directory above it, read permission
// on the file. ACLs are not read; an error is syscall.EACCES as the
// kernel would give it.
func readableBy(path string, who *diag.Identity) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if d := closedDirAbove(abs, who); d != "" {
		var st syscall.Stat_t
		if err := syscall.Stat(d, &st); err != nil {
			return &os.PathError{Op: "open", Path: path, Err: err}
		}
		return &os.PathError{Op: "open", Path: path, Err: syscall.EACCES}
	}
	var st syscall.Stat_t
	if err := syscall.Stat(abs, &st); err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	if !permits(&st, who, 0o4) {
		return &os.PathError{Op: "open", Path: path, Err: syscall.EACCES}
	}
	return nil
}

// watchdog closes a connection when a phase (greeting, login, one reply)
// takes longer than fetch.timeout: a server that accepts and then hangs
// holds its own account, never the others.
type watchdog struct {
	mu     sync.Mutex
	t      *time.Timer
	fired  bool
	paused bool
	d      time.Duration
	close  func()
}

func newWatchdog(d time.Duration, close func()) *watchdog {
	w := &watchdog{d: d, close: close}
	w.t = time.AfterFunc(d, w.fire)
	return w
}

func (w *watchdog) fire() {
	w.mu.Lock()
	w.fired = true
	w.mu.Unlock()
	w.close()
}

// kick restarts the timer: progress was made (a command sent, bytes
// read). While paused it does nothing.
func (w *watchdog) kick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.paused {
		w.t.Reset(w.d)
	}
}

// pause stops the timer (IDLE waits as long as it likes; a pass waits
// for the queue) until resume.
func (w *watchdog) pause() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.paused = true
	w.t.Stop()
}

// resume restarts the timer after a pause.
func (w *watchdog) resume() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.paused = false
	w.t.Reset(w.d)
}

func (w *watchdog) stop() { w.t.Stop() }

// explain turns the error of a closed connection into the timeout it was.
func (w *watchdog) explain(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fired && err != nil {
		return &net.OpError{Op: "read", Err: timeoutError{w.d}}
	}
	return err
}

type timeoutError struct{ d time.Duration }

func (e timeoutError) Error() string   { return fmt.Sprintf("no answer within %s", e.d) }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }
