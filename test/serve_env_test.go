package test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// serveEnv is one `ebb serve` on loopback: inbound SMTP (with STARTTLS when
// asked), metrics, a spool, a directory with example.test (alice, bob) and
// the Maildirs, all in a temp dir. It is started as root and drops to the
// unprivileged test user, as in production.
type serveEnv struct {
	t       *testing.T
	Dir     string
	Conf    string
	User    harness.User
	SMTP    string
	Metrics string
	Spool   string
	Cert    string
	Key     string
	logPath string
	srv     *harness.Serve // nil while the daemon is not running
}

type serveOpts struct {
	TLS   bool   // smtp.tls_cert and tls_key
	Spool string // the spool directory ("" is DIR/spool)
	Extra string // more TOML, appended
}

func newServeEnv(t *testing.T, o serveOpts) *serveEnv {
	t.Helper()
	harness.RequireRoot(t)
	e := &serveEnv{t: t, Dir: harness.Dir(t), User: harness.Unprivileged(t)}
	e.Conf = filepath.Join(e.Dir, "ebb.toml")
	e.logPath = filepath.Join(e.Dir, "serve.log")
	e.SMTP = fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	e.Metrics = fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	e.Spool = o.Spool
	if e.Spool == "" {
		e.Spool = filepath.Join(e.Dir, "spool")
	}
	var tlsConf string
	if o.TLS {
		e.Cert, e.Key = serveCert(t, e.Dir, "mx.example.test", 1)
		tlsConf = fmt.Sprintf("tls_cert = %q\ntls_key = %q\n", e.Cert, e.Key)
	}
	conf := fmt.Sprintf(`[server]
hostname = "mx.example.test"
user = %q
data_dir = %q

[mail]
root = %q

[queue]
spool = %q
retry_min = "1s"
retry_max = "2s"

[smtp]
listen = [%q]
shutdown_timeout = "10s"
%s
[metrics]
listen = %q
%s
%s`, e.User.Name, filepath.Join(e.Dir, "data"), filepath.Join(e.Dir, "mail"), e.Spool, e.SMTP, tlsConf, e.Metrics, o.Extra, deadRemoteDNS(t, o.Extra))
	if err := os.WriteFile(e.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data", "mail"} {
		os.MkdirAll(filepath.Join(e.Dir, d), 0o755)
	}
	os.MkdirAll(e.Spool, 0o700)
	for _, d := range []string{filepath.Join(e.Dir, "data"), filepath.Join(e.Dir, "mail"), e.Spool} {
		harness.Chown(t, d, e.User)
	}
	e.ebbAsUser("domain", "add", "-c", e.Conf, "example.test")
	e.ebbAsUser("user", "add", "-c", e.Conf, "--no-password", "alice@example.test")
	e.ebbAsUser("user", "add", "-c", e.Conf, "--no-password", "bob@example.test")
	e.Start()
	t.Cleanup(e.Stop)
	return e
}

func (e *serveEnv) ebbAsUser(args ...string) harness.Result {
	e.t.Helper()
	return harness.EbbAs(e.t, e.User, nil, args...)
}

// Start runs ebb serve as root (it drops to the test user) and waits for
// its greeting.
func (e *serveEnv) Start() {
	e.t.Helper()
	e.srv = harness.StartServe(e.t, e.Conf, e.logPath)
	e.waitGreeting()
}

func (e *serveEnv) waitGreeting() {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-e.srv.Exited():
			e.t.Fatalf("ebb serve exited with %d; log:\n%s", e.srv.ExitCode(), e.Log())
		default:
		}
		if c, err := serveDial(e.SMTP); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("ebb serve not answering on %s; log:\n%s", e.SMTP, e.Log())
}

// Stop sends SIGTERM and waits for the exit.
func (e *serveEnv) Stop() {
	if e.srv == nil {
		return
	}
	if !e.srv.Stop() {
		e.t.Errorf("ebb serve did not stop within 20 s of SIGTERM; log:\n%s", e.Log())
	}
	e.srv = nil
}

// Kill is kill -9.
func (e *serveEnv) Kill() {
	e.srv.Kill()
	e.srv = nil
}

func (e *serveEnv) Signal(s os.Signal) { e.srv.Signal(s) }

func (e *serveEnv) Log() string {
	b, _ := os.ReadFile(e.logPath)
	return string(b)
}

func (e *serveEnv) newDir(local string) string {
	return filepath.Join(e.Dir, "mail", "example.test", local, "Maildir", "new")
}

func (e *serveEnv) count(local string) int {
	ents, _ := os.ReadDir(e.newDir(local))
	return len(ents)
}

// waitCount waits until local has n messages in new/.
func (e *serveEnv) waitCount(local string, n int, within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for e.count(local) < n {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s has %d messages in new/, want %d; log tail:\n%s", local, e.count(local), n, tail(e.Log(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// messages returns the files in local's new/.
func (e *serveEnv) messages(local string) []string {
	e.t.Helper()
	ents, _ := os.ReadDir(e.newDir(local))
	var out []string
	for _, en := range ents {
		b, err := os.ReadFile(filepath.Join(e.newDir(local), en.Name()))
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func (e *serveEnv) scrape() string {
	e.t.Helper()
	resp, err := http.Get("http://" + e.Metrics + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// smtpConn is a minimal SMTP client that reads whole replies.
type smtpConn struct {
	c  net.Conn
	br *bufio.Reader
	w  io.Writer
}

func (s *smtpConn) Close() error { return s.c.Close() }

// reply reads one (possibly multi-line) reply and returns it whole.
func (s *smtpConn) reply() (string, error) {
	var b strings.Builder
	for {
		line, err := s.br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if len(line) < 4 || line[3] != '-' {
			return b.String(), nil
		}
	}
}

func (s *smtpConn) cmd(line string) string {
	fmt.Fprintf(s.w, "%s\r\n", line)
	r, _ := s.reply()
	return r
}

// serveDial connects and reads the greeting, which must be 220.
func serveDial(addr string) (*smtpConn, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	s := &smtpConn{c: c, br: bufio.NewReader(c), w: c}
	g, err := s.reply()
	if err != nil || !strings.HasPrefix(g, "220") {
		c.Close()
		return nil, fmt.Errorf("greeting %q: %v", g, err)
	}
	return s, nil
}

// serveCert writes a self-signed certificate for host with the given
// serial number (so a test can tell two apart), readable by everyone.
func serveCert(t *testing.T, dir, host string, serial int64) (certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(k)
	certFile, keyFile = filepath.Join(dir, "smtp-cert.pem"), filepath.Join(dir, "smtp-key.pem")
	if err := os.WriteFile(certFile+".new", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile+".new", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Rename(keyFile+".new", keyFile)
	os.Rename(certFile+".new", certFile)
	return certFile, keyFile
}
