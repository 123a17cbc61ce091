package harness

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SubEnv is an ebb serve with inbound SMTP, submission on STARTTLS and
// implicit TLS, and the sendmail pickup, all on loopback. The daemon runs
// as its own user (started as root, it drops to it), and the sendmail
// callers are another, ordinary user.
type SubEnv struct {
	t                 *testing.T
	Dir               string
	Conf              string
	Daemon            User // server.user
	Caller            User // an ordinary user running sendmail and mailx
	SMTP, Sub, SubTLS string
	Pickup            string
	Spool             string
	Srv               *Serve // nil while the daemon is not running
}

const (
	DemoPass = "demo secret 1"
	BossPass = "boss secret 2"
)

// NewSubEnv writes the config (extra goes into [submission]), creates the directory (example.test with
// demo, boss and the alias info → demo) and starts the daemon.
func NewSubEnv(t *testing.T, extra string) *SubEnv {
	t.Helper()
	return NewSubEnvWith(t, extra, "")
}

// NewSubEnvWith also puts smtpExtra into [smtp].
func NewSubEnvWith(t *testing.T, extra, smtpExtra string) *SubEnv {
	t.Helper()
	RequireRoot(t)
	e := &SubEnv{t: t, Dir: Dir(t)}
	e.Daemon = EnsureUser(t, "ebbvmail")
	e.Caller = Unprivileged(t)
	e.Conf = filepath.Join(e.Dir, "ebb.toml")
	e.Pickup = filepath.Join(e.Dir, "pickup")
	e.Spool = filepath.Join(e.Dir, "spool")
	port := func() string { return fmt.Sprintf("127.0.0.1:%d", FreePort(t)) }
	e.SMTP, e.Sub, e.SubTLS = port(), port(), port()
	cert, key := WriteCert(t, e.Dir)
	conf := ConfHead("mx.example.test", e.Daemon.Name, e.Dir) + fmt.Sprintf(`
[directory]
# Cheap hashes: the brute-force test times the failure delays, not argon2.
argon2_memory = "8M"
argon2_time = 1

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
%s`, e.SMTP, smtpExtra, e.Sub, e.SubTLS, cert, key, extra, e.Pickup, DeadRemoteDNS(t, extra+smtpExtra))
	if err := os.WriteFile(e.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data", "mail"} {
		os.MkdirAll(filepath.Join(e.Dir, d), 0o755)
		Chown(t, filepath.Join(e.Dir, d), e.Daemon)
	}
	e.EbbAsDaemon(nil, "domain", "add", "-c", e.Conf, "example.test")
	e.EbbAsDaemon([]byte(DemoPass+"\n"), "user", "add", "-c", e.Conf, "demo@example.test")
	e.EbbAsDaemon([]byte(BossPass+"\n"), "user", "add", "-c", e.Conf, "boss@example.test")
	e.EbbAsDaemon(nil, "alias", "add", "-c", e.Conf, "info@example.test", "demo@example.test")
	e.Start()
	t.Cleanup(e.Stop)
	return e
}

func (e *SubEnv) EbbAsDaemon(stdin []byte, args ...string) Result {
	e.t.Helper()
	return EbbAs(e.t, e.Daemon, stdin, args...)
}

// Start runs ebb serve (as root; it drops to the daemon user) and waits
// for its listeners and the pickup socket.
func (e *SubEnv) Start() {
	e.t.Helper()
	e.Srv = StartServe(e.t, e.Conf, filepath.Join(e.Dir, "serve.log"))
	e.Srv.WaitListening(e.t, 30*time.Second, e.SMTP, e.Sub)
	WaitTCP(e.t, e.SMTP, "220", 10*time.Second)
	if !WaitSocket(filepath.Join(e.Pickup, "submit.sock"), 10*time.Second) {
		e.t.Fatalf("no pickup socket; log:\n%s", e.Log())
	}
}

// Stop ends the daemon with SIGTERM and waits for it.
func (e *SubEnv) Stop() {
	if e.Srv != nil {
		e.Srv.Stop()
		e.Srv = nil
	}
}

// LogFile is the daemon's log file.
func (e *SubEnv) LogFile() string { return filepath.Join(e.Dir, "serve.log") }

func (e *SubEnv) Log() string {
	b, _ := os.ReadFile(filepath.Join(e.Dir, "serve.log"))
	return string(b)
}

// Maildir is the new/ directory of a mailbox of example.test.
func (e *SubEnv) NewDir(local string) string {
	return filepath.Join(e.Dir, "mail", "example.test", local, "Maildir", "new")
}

// WaitMail waits until n messages are in local's new/ and returns them.
func (e *SubEnv) WaitMail(local string, n int) []string {
	e.t.Helper()
	return e.WaitMailFor(local, n, 15*time.Second)
}

// WaitMailFor is WaitMail with a deadline of its own (a delivery through
// another MTA's queue takes a while on a loaded machine).
func (e *SubEnv) WaitMailFor(local string, n int, timeout time.Duration) []string {
	e.t.Helper()
	if !WaitFiles(e.NewDir(local), n, timeout) {
		e.t.Fatalf("%s has %d messages, want %d; log:\n%s", local, e.MailCount(local), n, e.Log())
	}
	ents, _ := os.ReadDir(e.NewDir(local))
	var out []string
	for _, en := range ents {
		b, err := os.ReadFile(filepath.Join(e.NewDir(local), en.Name()))
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, strings.ReplaceAll(string(b), "\r\n", "\n"))
	}
	return out
}

// MailCount is how many messages local has in new/.
func (e *SubEnv) MailCount(local string) int {
	ents, _ := os.ReadDir(e.NewDir(local))
	return len(ents)
}

// QueueFiles lists the spool's message files.
func (e *SubEnv) QueueFiles() []string {
	m, _ := filepath.Glob(filepath.Join(e.Spool, "queue", "*.q"))
	return m
}

// Mailq is `ebb mailq --json` output.
func (e *SubEnv) Mailq() string {
	r := Run(e.t, exec.Command(Ebb(e.t), "mailq", "-c", e.Conf), nil)
	return r.Stdout + r.Stderr
}

// Swaks runs swaks with args and returns its exit code and output.
func RunSwaks(t *testing.T, args ...string) Result {
	t.Helper()
	return Run(t, exec.Command("swaks", args...), nil)
}

// WriteCert makes a self-signed certificate for mx.example.test and
// localhost, readable by the daemon user.
func WriteCert(t *testing.T, dir string) (string, string) {
	t.Helper()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeServerCert(t, cert, key, 1, "mx.example.test", "localhost")
	return cert, key
}

// RawSMTP is a client that writes commands exactly as given, for the
// relay tricks that a polite client library would refuse to send.
type RawSMTP struct {
	t    *testing.T
	Conn net.Conn
	Tp   *textproto.Conn
}

// DialSMTP connects from local (e.g. "127.0.0.2", "" for any) to addr; tlsNow
// speaks implicit TLS.
func DialSMTP(t *testing.T, local, addr string, tlsNow bool) *RawSMTP {
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
	r := &RawSMTP{t: t, Conn: c, Tp: textproto.NewConn(c)}
	t.Cleanup(func() { c.Close() })
	r.Expect(220)
	return r
}

// Cmd sends one line and returns the reply's code and text.
func (r *RawSMTP) Cmd(format string, args ...any) (int, string) {
	r.t.Helper()
	id, err := r.Tp.Cmd(format, args...)
	if err != nil {
		r.t.Fatal(err)
	}
	r.Tp.StartResponse(id)
	defer r.Tp.EndResponse(id)
	code, msg, err := r.Tp.ReadResponse(0)
	if err != nil && code == 0 {
		r.t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
	return code, msg
}

func (r *RawSMTP) Expect(code int) string {
	r.t.Helper()
	c, msg, err := r.Tp.ReadResponse(code)
	if err != nil {
		r.t.Fatalf("want %d, got %d %s (%v)", code, c, msg, err)
	}
	return msg
}

// StartTLS does EHLO, STARTTLS and EHLO again.
func (r *RawSMTP) StartTLS() {
	r.t.Helper()
	r.Must(250, "EHLO client.example")
	r.Must(220, "STARTTLS")
	tc := tls.Client(r.Conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		r.t.Fatal(err)
	}
	r.Conn = tc
	r.Tp = textproto.NewConn(tc)
	r.Must(250, "EHLO client.example")
}

func (r *RawSMTP) Must(code int, line string) string {
	r.t.Helper()
	c, msg := r.Cmd("%s", line)
	if c != code {
		r.t.Fatalf("%s: got %d %s, want %d", line, c, msg, code)
	}
	return msg
}

// AuthPlain logs in and returns the reply.
func (r *RawSMTP) AuthPlain(user, pass string) (int, string) {
	r.t.Helper()
	return r.Cmd("AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)))
}

// Sendmail runs `ebb sendmail -C conf args...` as the ordinary caller.
func (e *SubEnv) Sendmail(stdin string, args ...string) Result {
	e.t.Helper()
	cmd := exec.Command(Ebb(e.t), append([]string{"sendmail", "-C", e.Conf}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	return Run(e.t, AsUser(cmd, e.Caller), []byte(stdin))
}

// Mailx runs Debian's bsd-mailx as the ordinary caller on "a host where
// Ebb is the sendmail": in a private mount namespace, the ebb binary is
// bind-mounted over /usr/sbin/sendmail, so mailx runs it exactly as it runs
// Postfix's (`sendmail -i -t [-f addr]`, argv[0] "sendmail"); nothing
// changes for the rest of the machine. EBB_CONFIG points sendmail at the
// test's config (/etc/ebb/ebb.toml on a real host).
func (e *SubEnv) Mailx(body string, args ...string) Result {
	e.t.Helper()
	Install(e.t, "bsd-mailx", "util-linux")
	script := `mount --bind "$EBB" /usr/sbin/sendmail && exec runuser -u "$CALLER" -- env EBB_CONFIG="$CONF" HOME="$HOMEDIR" PATH=/usr/bin:/bin /usr/bin/bsd-mailx "$@"`
	cmd := exec.Command("unshare", append([]string{"-m", "--propagation", "private", "sh", "-c", script, "mailx"}, args...)...)
	cmd.Env = []string{"EBB=" + Ebb(e.t), "CALLER=" + e.Caller.Name, "CONF=" + e.Conf, "HOMEDIR=" + e.Dir, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	return Run(e.t, cmd, []byte(body))
}
