package test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/dnstest"
	"github.com/ebbmail/ebb/test/harness"
)

// outInstance is one ebb serve for the outbound tests: one hosted domain,
// inbound SMTP with STARTTLS and submission on one loopback IP, the test
// DNS as its resolver and relay.port pointing at the peers' SMTP port.
type outInstance struct {
	t       *testing.T
	Domain  string
	Dir     string
	Conf    string
	Spool   string
	SMTP    string // ip:port
	Sub     string
	Daemon  harness.User
	srv     *harness.Serve
	logPath string
}

type outOpts struct {
	Domain    string
	IP        string
	Port      int    // the SMTP port (0: free)
	DNS       string // the test DNS address
	RelayPort int    // relay.port
	Relay     string // more [relay] keys
	Queue     string // more [queue] keys
	Sub       string // more [submission] keys
	DNSKeys   string // more [dns] keys
	Extra     string // more sections, at the end
	Users     []string
}

const outPass = "out secret 1"

func newOutInstance(t *testing.T, o outOpts) *outInstance {
	t.Helper()
	harness.RequireRoot(t)
	e := &outInstance{t: t, Domain: o.Domain, Dir: harness.Dir(t)}
	e.Daemon = harness.EnsureUser(t, "ebbvmail")
	e.Conf = filepath.Join(e.Dir, "ebb.toml")
	e.Spool = filepath.Join(e.Dir, "spool")
	e.logPath = filepath.Join(e.Dir, "serve.log")
	if o.Port == 0 {
		o.Port = harness.FreePort(t)
	}
	e.SMTP = fmt.Sprintf("%s:%d", o.IP, o.Port)
	e.Sub = fmt.Sprintf("%s:%d", o.IP, harness.FreePort(t))
	cert, key := outCert(t, e.Dir, "mx."+o.Domain)
	conf := fmt.Sprintf(`[server]
hostname = "mx.%s"
user = %q
data_dir = %q

[mail]
root = %q

[directory]
argon2_memory = "8M"
argon2_time = 1

[queue]
spool = %q
%s

[smtp]
listen = [%q]
tls_cert = %q
tls_key = %q

[submission]
listen = [%q]
tls_cert = %q
tls_key = %q
trusted_networks = []
%s

[sendmail]
pickup_dir = %q
domain = %q

[metrics]
listen = ""

[dns]
resolver = %q
timeout = "1s"
%s

[relay]
port = %d
helo_name = "mx.%s"
connect_timeout = "2s"
greeting_timeout = "3s"
%s

%s
`, o.Domain, e.Daemon.Name, filepath.Join(e.Dir, "data"), filepath.Join(e.Dir, "mail"), e.Spool, o.Queue,
		e.SMTP, cert, key, e.Sub, cert, key, o.Sub, filepath.Join(e.Dir, "pickup"), o.Domain,
		o.DNS, o.DNSKeys, o.RelayPort, o.Domain, o.Relay, o.Extra)
	if err := os.WriteFile(e.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data", "mail"} {
		os.MkdirAll(filepath.Join(e.Dir, d), 0o755)
		harness.Chown(t, filepath.Join(e.Dir, d), e.Daemon)
	}
	harness.EbbAs(t, e.Daemon, nil, "domain", "add", "-c", e.Conf, o.Domain)
	for _, u := range o.Users {
		harness.EbbAs(t, e.Daemon, []byte(outPass+"\n"), "user", "add", "-c", e.Conf, u+"@"+o.Domain)
	}
	e.srv = harness.StartServe(t, e.Conf, e.logPath)
	harness.WaitTCP(t, e.SMTP, "220", 10*time.Second)
	harness.WaitTCP(t, e.Sub, "220", 10*time.Second)
	return e
}

func (e *outInstance) Log() string {
	b, _ := os.ReadFile(e.logPath)
	return string(b)
}

func (e *outInstance) newDir(local string) string {
	return filepath.Join(e.Dir, "mail", e.Domain, local, "Maildir", "new")
}

func (e *outInstance) count(local string) int {
	ents, _ := os.ReadDir(e.newDir(local))
	return len(ents)
}

// waitMail waits for n messages in local's mailbox and returns them.
func (e *outInstance) waitMail(local string, n int, within time.Duration) []string {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ents, _ := os.ReadDir(e.newDir(local))
		if len(ents) >= n {
			var out []string
			for _, en := range ents {
				b, _ := os.ReadFile(filepath.Join(e.newDir(local), en.Name()))
				out = append(out, string(b))
			}
			return out
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s@%s has %d messages, want %d; log:\n%s", local, e.Domain, len(ents), n, tail(e.Log(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mailq is `ebb mailq` as root.
func (e *outInstance) mailq() string {
	r := harness.Run(e.t, exec.Command(harness.Ebb(e.t), "mailq", "-c", e.Conf), nil)
	return r.Stdout + r.Stderr
}

// waitMailq waits until mailq's output contains every one of want.
func (e *outInstance) waitMailq(within time.Duration, want ...string) string {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		q := e.mailq()
		ok := true
		for _, w := range want {
			if !strings.Contains(q, w) {
				ok = false
			}
		}
		if ok {
			return q
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("mailq does not say %q:\n%s\nlog:\n%s", want, q, tail(e.Log(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// submit sends one message through submission (STARTTLS, AUTH PLAIN)
// with swaks.
func (e *outInstance) submit(from, to, subject string) {
	e.t.Helper()
	r := runSwaks(e.t, "--server", e.Sub, "--tls", "--auth", "PLAIN", "--auth-user", from, "--auth-password", outPass,
		"--from", from, "--to", to, "--header", "Subject: "+subject, "--body", "hello from "+from, "--timeout", "20")
	if r.Code != 0 {
		e.t.Fatalf("swaks: %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
}

// startDNS is the loopback test DNS for one test.
func startDNS(t *testing.T) *dnstest.Server {
	t.Helper()
	s, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// outCert is a self-signed certificate for name, readable by the daemon.
func outCert(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(k)
	cert, key := filepath.Join(dir, "out-cert.pem"), filepath.Join(dir, "out-key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o644)
	return cert, key
}

// commonPort is a port free on every one of the loopback ips.
func commonPort(t *testing.T, ips ...string) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		p := harness.FreePort(t)
		ok := true
		for _, ip := range ips {
			if !portFree(ip, p) {
				ok = false
				break
			}
		}
		if ok {
			return p
		}
	}
	t.Fatal("no port free on all of", ips)
	return 0
}

func portFree(ip string, port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
