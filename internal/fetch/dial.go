package fetch

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/ebbmail/ebb/internal/directory"
)

// tlsConfig is the account's TLS: verification on unless the account was
// added with --insecure-skip-verify, against the system roots or its CA
// file (a self-signed or private-CA server).
func tlsConfig(a *directory.FetchAccount) (*tls.Config, error) {
	c := &tls.Config{ServerName: a.Host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: !a.Verify}
	if a.CAFile != "" {
		pem, err := os.ReadFile(a.CAFile)
		if err != nil {
			return nil, fail(CauseLocal, "read the CA file of the account", err, "check --ca-file; it must be readable by the user ebb runs as")
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fail(CauseLocal, "read the CA file "+a.CAFile, errors.New("no PEM certificate in it"), "give the CA certificate in PEM form")
		}
		c.RootCAs = pool
	}
	return c, nil
}

// watchdog closes a connection when a phase (greeting, login, one reply)
// takes longer than fetch.timeout: a server that accepts and then hangs
// holds its own account, never the others.
type watchdog struct {
	mu    sync.Mutex
	t     *time.Timer
	fired bool
	d     time.Duration
	close func()
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

// kick restarts the timer: progress was made.
func (w *watchdog) kick() { w.t.Reset(w.d) }

// pause stops the timer (IDLE waits as long as it likes).
func (w *watchdog) pause() { w.t.Stop() }

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
