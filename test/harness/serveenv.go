package harness

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ServeEnv is one `ebb serve` on loopback: inbound SMTP (with STARTTLS when
// asked), metrics, a spool, a directory with example.test (alice, bob) and
// the Maildirs, all in a temp dir. It is started as root and drops to the
// unprivileged test user, as in production.
type ServeEnv struct {
	T       *testing.T
	Dir     string
	Conf    string
	User    User
	SMTP    string
	Metrics string
	Spool   string
	Cert    string
	Key     string
	LogPath string
	Srv     *Serve // nil while the daemon is not running
}

// ServeOpts is what NewServeEnv can change.
type ServeOpts struct {
	TLS   bool   // smtp.tls_cert and tls_key
	Spool string // the spool directory ("" is DIR/spool)
	Extra string // more TOML, appended
}

// NewServeEnv writes the config (the remote domains' DNS failing, unless
// o.Extra has a [dns] section: DeadRemoteDNS) and the directory, and
// starts the daemon.
func NewServeEnv(t *testing.T, o ServeOpts) *ServeEnv {
	t.Helper()
	RequireRoot(t)
	e := &ServeEnv{T: t, Dir: Dir(t), User: Unprivileged(t)}
	e.Conf = filepath.Join(e.Dir, "ebb.toml")
	e.LogPath = filepath.Join(e.Dir, "serve.log")
	e.SMTP = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	e.Metrics = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	e.Spool = o.Spool
	if e.Spool == "" {
		e.Spool = filepath.Join(e.Dir, "spool")
	}
	var tlsConf string
	if o.TLS {
		e.Cert, e.Key = ServeCert(t, e.Dir, "mx.example.test", 1)
		tlsConf = fmt.Sprintf("tls_cert = %q\ntls_key = %q\n", e.Cert, e.Key)
	}
	conf := ConfHeadAt("mx.example.test", e.User.Name, filepath.Join(e.Dir, "data"), filepath.Join(e.Dir, "mail"), e.Spool) + fmt.Sprintf(`retry_min = "1s"
retry_max = "2s"

[smtp]
listen = [%q]
shutdown_timeout = "10s"
%s
[metrics]
listen = %q
%s
%s`, e.SMTP, tlsConf, e.Metrics, o.Extra, DeadRemoteDNS(t, o.Extra))
	if err := os.WriteFile(e.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data", "mail"} {
		os.MkdirAll(filepath.Join(e.Dir, d), 0o755)
	}
	os.MkdirAll(e.Spool, 0o700)
	for _, d := range []string{filepath.Join(e.Dir, "data"), filepath.Join(e.Dir, "mail"), e.Spool} {
		Chown(t, d, e.User)
	}
	e.EbbAsUser("domain", "add", "-c", e.Conf, "example.test")
	e.EbbAsUser("user", "add", "-c", e.Conf, "--no-password", "alice@example.test")
	e.EbbAsUser("user", "add", "-c", e.Conf, "--no-password", "bob@example.test")
	e.Start()
	t.Cleanup(e.Stop)
	return e
}

func (e *ServeEnv) EbbAsUser(args ...string) Result {
	e.T.Helper()
	return EbbAs(e.T, e.User, nil, args...)
}

// Start runs ebb serve as root (it drops to the test user) and waits for
// its greeting.
func (e *ServeEnv) Start() {
	e.T.Helper()
	e.Srv = StartServe(e.T, e.Conf, e.LogPath)
	e.waitGreeting()
}

func (e *ServeEnv) waitGreeting() {
	e.T.Helper()
	e.Srv.WaitListening(e.T, 30*time.Second, e.SMTP)
	c, err := ServeDial(e.SMTP)
	if err != nil {
		e.T.Fatalf("ebb serve not answering on %s: %v; log:\n%s", e.SMTP, err, e.Log())
	}
	c.Close()
}

// Stop sends SIGTERM and waits for the exit.
func (e *ServeEnv) Stop() {
	if e.Srv == nil {
		return
	}
	if !e.Srv.Stop() {
		e.T.Errorf("ebb serve did not stop within 20 s of SIGTERM; log:\n%s", e.Log())
	}
	e.Srv = nil
}

// Kill is kill -9.
func (e *ServeEnv) Kill() {
	e.Srv.Kill()
	e.Srv = nil
}

func (e *ServeEnv) Signal(s os.Signal) { e.Srv.Signal(s) }

func (e *ServeEnv) Log() string {
	b, _ := os.ReadFile(e.LogPath)
	return string(b)
}

// NewDir is the new/ directory of a mailbox of example.test.
func (e *ServeEnv) NewDir(local string) string { return e.newDir(local) }

func (e *ServeEnv) newDir(local string) string {
	return filepath.Join(e.Dir, "mail", "example.test", local, "Maildir", "new")
}

func (e *ServeEnv) Count(local string) int {
	ents, _ := os.ReadDir(e.newDir(local))
	return len(ents)
}

// WaitCount waits until local has n messages in new/.
func (e *ServeEnv) WaitCount(local string, n int, within time.Duration) {
	e.T.Helper()
	if !WaitFiles(e.newDir(local), n, within) {
		e.T.Fatalf("%s has %d messages in new/, want %d; log tail:\n%s", local, e.Count(local), n, Tail(e.Log(), 30))
	}
}

// Messages returns the files in local's new/.
func (e *ServeEnv) Messages(local string) []string {
	e.T.Helper()
	ents, _ := os.ReadDir(e.newDir(local))
	var out []string
	for _, en := range ents {
		b, err := os.ReadFile(filepath.Join(e.newDir(local), en.Name()))
		if err != nil {
			e.T.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func (e *ServeEnv) Scrape() string {
	e.T.Helper()
	resp, err := http.Get("http://" + e.Metrics + "/metrics")
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// SmtpConn is a minimal SMTP client that reads whole replies.
type SmtpConn struct {
	C  net.Conn
	Br *bufio.Reader
	W  io.Writer
}

func (s *SmtpConn) Close() error { return s.C.Close() }

// Reply reads one (possibly multi-line) reply and returns it whole.
func (s *SmtpConn) Reply() (string, error) {
	var b strings.Builder
	for {
		line, err := s.Br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if len(line) < 4 || line[3] != '-' {
			return b.String(), nil
		}
	}
}

func (s *SmtpConn) Cmd(line string) string {
	fmt.Fprintf(s.W, "%s\r\n", line)
	r, _ := s.Reply()
	return r
}

// ServeDial connects and reads the greeting, which must be 220.
func ServeDial(addr string) (*SmtpConn, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	s := &SmtpConn{C: c, Br: bufio.NewReader(c), W: c}
	g, err := s.Reply()
	if err != nil || !strings.HasPrefix(g, "220") {
		c.Close()
		return nil, fmt.Errorf("greeting %q: %v", g, err)
	}
	return s, nil
}

// ServeCert writes a self-signed certificate for host with the given
// serial number (so a test can tell two apart), readable by everyone.
func ServeCert(t *testing.T, dir, host string, serial int64) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "smtp-cert.pem"), filepath.Join(dir, "smtp-key.pem")
	writeServerCert(t, certFile, keyFile, serial, host)
	return certFile, keyFile
}

// DialFrom is ServeDial from a chosen loopback source address (127.0.0.2:
// a client that is not the machine itself, so no trusted-network rule can
// hide what a stranger gets).
func DialFrom(t *testing.T, addr, src string) *SmtpConn {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	s := &SmtpConn{C: c, Br: bufio.NewReader(c), W: c}
	if g, err := s.Reply(); err != nil || !strings.HasPrefix(g, "220") {
		t.Fatalf("greeting %q: %v", g, err)
	}
	t.Cleanup(func() { c.Close() })
	return s
}
