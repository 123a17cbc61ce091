package test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// subEnv is an ebb serve with inbound SMTP, submission on STARTTLS and
// implicit TLS, and the sendmail pickup, all on loopback. The daemon runs
// as its own user (started as root, it drops to it), and the sendmail
// callers are another, ordinary user.
type subEnv struct {
	t                 *testing.T
	Dir               string
	Conf              string
	Daemon            harness.User // server.user
	Caller            harness.User // an ordinary user running sendmail and mailx
	SMTP, Sub, SubTLS string
	Pickup            string
	Spool             string
	srv               *harness.Serve // nil while the daemon is not running
}

const (
	demoPass = "demo secret 1"
	bossPass = "boss secret 2"
)

// newSubEnv writes the config (extra goes into [submission]), creates the directory (example.test with
// demo, boss and the alias info → demo) and starts the daemon.
func newSubEnv(t *testing.T, extra string) *subEnv {
	t.Helper()
	return newSubEnvWith(t, extra, "")
}

// newSubEnvWith also puts smtpExtra into [smtp].
func newSubEnvWith(t *testing.T, extra, smtpExtra string) *subEnv {
	t.Helper()
	harness.RequireRoot(t)
	e := &subEnv{t: t, Dir: harness.Dir(t)}
	e.Daemon = harness.EnsureUser(t, "ebbvmail")
	e.Caller = harness.Unprivileged(t)
	e.Conf = filepath.Join(e.Dir, "ebb.toml")
	e.Pickup = filepath.Join(e.Dir, "pickup")
	e.Spool = filepath.Join(e.Dir, "spool")
	port := func() string { return fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t)) }
	e.SMTP, e.Sub, e.SubTLS = port(), port(), port()
	cert, key := writeCert(t, e.Dir)
	conf := fmt.Sprintf(`[server]
hostname = "mx.example.test"
user = %q
data_dir = %q

[mail]
root = %q

[directory]
# Cheap hashes: the brute-force test times the failure delays, not argon2.
argon2_memory = "8M"
argon2_time = 1

[queue]
spool = %q

[smtp]
listen = [%q]
%s

[submission]
listen = [%q]
listen_tls = [%q]
tls_cert = %q
tls_key = %q
# 127.0.0.2 and the rest of loopback are strangers here.
trusted_networks = ["127.0.0.1/32"]
auth_failure_delay = "300ms"
%s
[sendmail]
pickup_dir = %q
domain = "example.test"
scan_interval = "1s"

[metrics]
listen = ""
%s`, e.Daemon.Name, filepath.Join(e.Dir, "data"), filepath.Join(e.Dir, "mail"), e.Spool,
		e.SMTP, smtpExtra, e.Sub, e.SubTLS, cert, key, extra, e.Pickup, deadRemoteDNS(t, extra+smtpExtra))
	if err := os.WriteFile(e.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data", "mail"} {
		os.MkdirAll(filepath.Join(e.Dir, d), 0o755)
		harness.Chown(t, filepath.Join(e.Dir, d), e.Daemon)
	}
	e.ebbAsDaemon(nil, "domain", "add", "-c", e.Conf, "example.test")
	e.ebbAsDaemon([]byte(demoPass+"\n"), "user", "add", "-c", e.Conf, "demo@example.test")
	e.ebbAsDaemon([]byte(bossPass+"\n"), "user", "add", "-c", e.Conf, "boss@example.test")
	e.ebbAsDaemon(nil, "alias", "add", "-c", e.Conf, "info@example.test", "demo@example.test")
	e.Start()
	t.Cleanup(e.Stop)
	return e
}

func (e *subEnv) ebbAsDaemon(stdin []byte, args ...string) harness.Result {
	e.t.Helper()
	return harness.EbbAs(e.t, e.Daemon, stdin, args...)
}

// Start runs ebb serve (as root; it drops to the daemon user) and waits
// for its listeners and the pickup socket.
func (e *subEnv) Start() {
	e.t.Helper()
	e.srv = harness.StartServe(e.t, e.Conf, filepath.Join(e.Dir, "serve.log"))
	harness.WaitTCP(e.t, e.SMTP, "220", 10*time.Second)
	harness.WaitTCP(e.t, e.Sub, "220", 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Stat(filepath.Join(e.Pickup, "submit.sock")); err == nil && fi.Mode()&os.ModeSocket != 0 {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no pickup socket; log:\n%s", e.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the daemon with SIGTERM and waits for it.
func (e *subEnv) Stop() {
	if e.srv != nil {
		e.srv.Stop()
		e.srv = nil
	}
}

func (e *subEnv) Log() string {
	b, _ := os.ReadFile(filepath.Join(e.Dir, "serve.log"))
	return string(b)
}

// Maildir is the new/ directory of a mailbox of example.test.
func (e *subEnv) newDir(local string) string {
	return filepath.Join(e.Dir, "mail", "example.test", local, "Maildir", "new")
}

// waitMail waits until n messages are in local's new/ and returns them.
func (e *subEnv) waitMail(local string, n int) []string {
	e.t.Helper()
	return e.waitMailFor(local, n, 15*time.Second)
}

// waitMailFor is waitMail with a deadline of its own (a delivery through
// another MTA's queue takes a while on a loaded machine).
func (e *subEnv) waitMailFor(local string, n int, timeout time.Duration) []string {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ents, _ := os.ReadDir(e.newDir(local))
		if len(ents) >= n {
			var out []string
			for _, en := range ents {
				b, err := os.ReadFile(filepath.Join(e.newDir(local), en.Name()))
				if err != nil {
					e.t.Fatal(err)
				}
				out = append(out, strings.ReplaceAll(string(b), "\r\n", "\n"))
			}
			return out
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s has %d messages, want %d; log:\n%s", local, len(ents), n, e.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mailCount is how many messages local has in new/.
func (e *subEnv) mailCount(local string) int {
	ents, _ := os.ReadDir(e.newDir(local))
	return len(ents)
}

// queueFiles lists the spool's message files.
func (e *subEnv) queueFiles() []string {
	m, _ := filepath.Glob(filepath.Join(e.Spool, "queue", "*.q"))
	return m
}

// mailq is `ebb mailq --json` output.
func (e *subEnv) mailq() string {
	r := harness.Run(e.t, exec.Command(harness.Ebb(e.t), "mailq", "-c", e.Conf), nil)
	return r.Stdout + r.Stderr
}

// swaks runs swaks with args and returns its exit code and output.
func runSwaks(t *testing.T, args ...string) harness.Result {
	t.Helper()
	return harness.Run(t, exec.Command("swaks", args...), nil)
}

// writeCert makes a self-signed certificate for mx.example.test and
// localhost, readable by the daemon user.
func writeCert(t *testing.T, dir string) (string, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mx.example.test"},
		DNSNames:     []string{"mx.example.test", "localhost"},
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
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o644)
	return cert, key
}

// rawSMTP is a client that writes commands exactly as given, for the
// relay tricks that a polite client library would refuse to send.
type rawSMTP struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

// dialSMTP connects from local (e.g. "127.0.0.2", "" for any) to addr; tlsNow
// speaks implicit TLS.
func dialSMTP(t *testing.T, local, addr string, tlsNow bool) *rawSMTP {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if tlsNow {
		c = tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	r := &rawSMTP{t: t, conn: c, tp: textproto.NewConn(c)}
	t.Cleanup(func() { c.Close() })
	r.expect(220)
	return r
}

// cmd sends one line and returns the reply's code and text.
func (r *rawSMTP) cmd(format string, args ...any) (int, string) {
	r.t.Helper()
	id, err := r.tp.Cmd(format, args...)
	if err != nil {
		r.t.Fatal(err)
	}
	r.tp.StartResponse(id)
	defer r.tp.EndResponse(id)
	code, msg, err := r.tp.ReadResponse(0)
	if err != nil && code == 0 {
		r.t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
	return code, msg
}

func (r *rawSMTP) expect(code int) string {
	r.t.Helper()
	c, msg, err := r.tp.ReadResponse(code)
	if err != nil {
		r.t.Fatalf("want %d, got %d %s (%v)", code, c, msg, err)
	}
	return msg
}

// startTLS does EHLO, STARTTLS and EHLO again.
func (r *rawSMTP) startTLS() {
	r.t.Helper()
	r.must(250, "EHLO client.example")
	r.must(220, "STARTTLS")
	tc := tls.Client(r.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		r.t.Fatal(err)
	}
	r.conn = tc
	r.tp = textproto.NewConn(tc)
	r.must(250, "EHLO client.example")
}

func (r *rawSMTP) must(code int, line string) string {
	r.t.Helper()
	c, msg := r.cmd("%s", line)
	if c != code {
		r.t.Fatalf("%s: got %d %s, want %d", line, c, msg, code)
	}
	return msg
}

// authPlain logs in and returns the reply.
func (r *rawSMTP) authPlain(user, pass string) (int, string) {
	r.t.Helper()
	return r.cmd("AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)))
}
