package harness

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dnstest"

	"github.com/ebbmail/ebb/internal/servetest"
)

// OutInstance is one ebb serve for the outbound tests: one hosted domain,
// inbound SMTP with STARTTLS and submission on one loopback IP, the test
// DNS as its resolver and relay.port pointing at the peers' SMTP port.
type OutInstance struct {
	t       *testing.T
	Domain  string
	Dir     string
	Conf    string
	Spool   string
	SMTP    string // ip:port
	Sub     string
	Daemon  User
	srv     *Serve
	logPath string
}

// OutOpts is what NewOutInstance can change.
type OutOpts struct {
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

// OutPass is the password of every user NewOutInstance makes.
const OutPass = "out secret 1"

// NewOutInstance starts one ebb serve for o.Domain on o.IP (its own
// directory, users, spool and Maildirs) that finds the other instances
// through the DNS server o.DNS.
func NewOutInstance(t *testing.T, o OutOpts) *OutInstance {
	t.Helper()
	RequireRoot(t)
	e := &OutInstance{t: t, Domain: o.Domain, Dir: Dir(t)}
	e.Daemon = EnsureUser(t, "ebbvmail")
	e.Conf = filepath.Join(e.Dir, "ebb.toml")
	e.Spool = filepath.Join(e.Dir, "spool")
	e.logPath = filepath.Join(e.Dir, "serve.log")
	if o.Port == 0 {
		o.Port = FreePort(t)
	}
	e.SMTP = fmt.Sprintf("%s:%d", o.IP, o.Port)
	e.Sub = fmt.Sprintf("%s:%d", o.IP, FreePort(t))
	cert, key := OutCert(t, e.Dir, "mx."+o.Domain)
	conf := ConfHead("mx."+o.Domain, e.Daemon.Name, e.Dir) + fmt.Sprintf(`%s

[directory]
argon2_memory = "8M"
argon2_time = 1

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
`, o.Queue,
		e.SMTP, cert, key, e.Sub, cert, key, o.Sub, filepath.Join(e.Dir, "pickup"), o.Domain,
		o.DNS, o.DNSKeys, o.RelayPort, o.Domain, o.Relay, o.Extra)
	if err := os.WriteFile(e.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data", "mail"} {
		os.MkdirAll(filepath.Join(e.Dir, d), 0o755)
		Chown(t, filepath.Join(e.Dir, d), e.Daemon)
	}
	EbbAs(t, e.Daemon, nil, "domain", "add", "-c", e.Conf, o.Domain)
	for _, u := range o.Users {
		EbbAs(t, e.Daemon, []byte(OutPass+"\n"), "user", "add", "-c", e.Conf, u+"@"+o.Domain)
	}
	e.srv = StartServe(t, e.Conf, e.logPath)
	e.srv.WaitListening(t, 30*time.Second, e.SMTP, e.Sub)
	WaitTCP(t, e.SMTP, "220", 10*time.Second)
	return e
}

// LogFile is the daemon's log file.
func (e *OutInstance) LogFile() string { return e.logPath }

func (e *OutInstance) Log() string {
	b, _ := os.ReadFile(e.logPath)
	return string(b)
}

func (e *OutInstance) newDir(local string) string {
	return filepath.Join(e.Dir, "mail", e.Domain, local, "Maildir", "new")
}

func (e *OutInstance) Count(local string) int {
	ents, _ := os.ReadDir(e.newDir(local))
	return len(ents)
}

// WaitMail waits for n messages in local's mailbox and returns them.
func (e *OutInstance) WaitMail(local string, n int, within time.Duration) []string {
	e.t.Helper()
	if !WaitFiles(e.newDir(local), n, within) {
		e.t.Fatalf("%s@%s has %d messages, want %d; log:\n%s", local, e.Domain, e.Count(local), n, Tail(e.Log(), 40))
	}
	ents, _ := os.ReadDir(e.newDir(local))
	var out []string
	for _, en := range ents {
		b, _ := os.ReadFile(filepath.Join(e.newDir(local), en.Name()))
		out = append(out, string(b))
	}
	return out
}

// Mailq is `ebb mailq` as root.
func (e *OutInstance) Mailq() string {
	r := Run(e.t, exec.Command(Ebb(e.t), "mailq", "-c", e.Conf), nil)
	return r.Stdout + r.Stderr
}

// WaitMailq waits until mailq's output contains every one of want.
func (e *OutInstance) WaitMailq(within time.Duration, want ...string) string {
	e.t.Helper()
	var q string
	says := func() bool {
		q = e.Mailq()
		for _, w := range want {
			if !strings.Contains(q, w) {
				return false
			}
		}
		return true
	}
	// mailq changes when the queue's files do.
	if !WaitOn(within, says, filepath.Join(e.Spool, "queue")) {
		e.t.Fatalf("mailq does not say %q:\n%s\nlog:\n%s", want, q, Tail(e.Log(), 30))
	}
	return q
}

// Submit sends one message through submission (STARTTLS, AUTH PLAIN)
// with swaks.
func (e *OutInstance) Submit(from, to, subject string) {
	e.t.Helper()
	r := RunSwaks(e.t, "--server", e.Sub, "--tls", "--auth", "PLAIN", "--auth-user", from, "--auth-password", OutPass,
		"--from", from, "--to", to, "--header", "Subject: "+subject, "--body", "hello from "+from, "--timeout", "20")
	if r.Code != 0 {
		e.t.Fatalf("swaks: %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
}

// StartDNS is the loopback test DNS for one test.
func StartDNS(t *testing.T) *dnstest.Server {
	t.Helper()
	s, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Pair is the rig most relay tests share: one.example (alice) on
// 127.0.0.2 and two.example (bob) on 127.0.0.3, two ebb serve on one SMTP
// port (each one's relay.port), each the MX of its domain (mx.one.example,
// mx.two.example) in a test DNS, plus the hosts a test runs beside them
// (smtp-sink on their own loopback address, the same port).
type Pair struct {
	DNS      *dnstest.Server
	Port     int
	One, Two *OutInstance
}

// PairOpts is what a test changes in its Pair.
type PairOpts struct {
	// Hosts are more MX hosts on the pair's port, name → loopback
	// address: name.example's MX is mx.name.example at that address (the
	// test starts what listens there, on Pair.At).
	Hosts map[string]string
	// TwoMX is the MX host name of two.example (default mx.two.example,
	// which resolves to 127.0.0.3 whatever TwoMX is).
	TwoMX string
	// Records are more DNS records, added before the instances start.
	Records []string
	// OneTrustsTwo sets one's relay.tls_ca_file to two's self-signed
	// certificate (for mx.two.example), so that one can verify two.
	OneTrustsTwo bool
	// One and Two are the rest of each instance's options (Users is
	// alice, bob when empty); the pair sets Domain, IP, Port, DNS and
	// RelayPort.
	One, Two OutOpts
}

// NewPair starts two.example's instance, then one.example's.
func NewPair(t *testing.T, o PairOpts) *Pair {
	t.Helper()
	p := &Pair{DNS: StartDNS(t)}
	ips := []string{"127.0.0.2", "127.0.0.3"}
	for _, ip := range o.Hosts {
		ips = append(ips, ip)
	}
	p.Port = CommonPort(t, ips...)
	if o.TwoMX == "" {
		o.TwoMX = "mx.two.example"
	}
	p.DNS.MustAdd("one.example. MX 10 mx.one.example.", "mx.one.example. A 127.0.0.2",
		"two.example. MX 10 "+o.TwoMX+".", "mx.two.example. A 127.0.0.3")
	if o.TwoMX != "mx.two.example" {
		p.DNS.MustAdd(o.TwoMX + ". A 127.0.0.3")
	}
	for name, ip := range o.Hosts {
		p.DNS.MustAdd(fmt.Sprintf("%s.example. MX 10 mx.%s.example.", name, name), fmt.Sprintf("mx.%s.example. A %s", name, ip))
	}
	p.DNS.MustAdd(o.Records...)
	start := func(oo OutOpts, domain, ip, user string) *OutInstance {
		oo.Domain, oo.IP, oo.Port, oo.DNS, oo.RelayPort = domain, ip, p.Port, p.DNS.Addr(), p.Port
		if len(oo.Users) == 0 {
			oo.Users = []string{user}
		}
		return NewOutInstance(t, oo)
	}
	p.Two = start(o.Two, "two.example", "127.0.0.3", "bob")
	if o.OneTrustsTwo {
		// First: Relay may end with sections of its own.
		o.One.Relay = fmt.Sprintf("tls_ca_file = %q\n", filepath.Join(p.Two.Dir, "out-cert.pem")) + o.One.Relay
	}
	p.One = start(o.One, "one.example", "127.0.0.2", "alice")
	return p
}

// At is ip on the pair's port, where a host of PairOpts.Hosts listens.
func (p *Pair) At(ip string) string { return fmt.Sprintf("%s:%d", ip, p.Port) }

// OutCert is a self-signed certificate for name, readable by the daemon.
func OutCert(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	cert, key := filepath.Join(dir, "out-cert.pem"), filepath.Join(dir, "out-key.pem")
	writeServerCert(t, cert, key, time.Now().UnixNano(), name)
	return cert, key
}

// CommonPort is a port free on every one of the loopback ips.
func CommonPort(t *testing.T, ips ...string) int {
	t.Helper()
	return servetest.FreePort(t, ips...)
}

// PortFree reports whether ip:port can be listened on now.
func PortFree(ip string, port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// SubmitRaw sends one message as it is through inbound SMTP from
// 127.0.0.2 (data as given, CRLF lines).
func (e *OutInstance) SubmitRaw(t *testing.T, data string) {
	t.Helper()
	c := DialFrom(t, e.SMTP, "127.0.0.2")
	c.Cmd("EHLO [127.0.0.1]") // an address literal: smtp.helo must be quoted in the A-R
	c.Cmd("MAIL FROM:<" + "bob@" + e.Domain + ">")
	c.Cmd("RCPT TO:<bob@" + e.Domain + ">")
	c.Cmd("DATA")
	if r := c.Cmd(data + "."); !strings.HasPrefix(r, "250") {
		t.Fatalf("marker: %q", r)
	}
	c.Cmd("QUIT")
}

// SubmitRawMany sends each message of msgs (header and body as given)
// from→to through submission on one session (STARTTLS, AUTH PLAIN).
func (e *OutInstance) SubmitRawMany(t *testing.T, from, to string, msgs []string) {
	t.Helper()
	c, err := smtp.Dial(e.Sub)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	host, _, _ := net.SplitHostPort(e.Sub)
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true, ServerName: host}); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", from, OutPass, host)); err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		if err := c.Mail(from); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt(to); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(m))
		if err := w.Close(); err != nil {
			t.Errorf("message %d refused at submission: %v\n%.300q", i, err, m)
		}
	}
	c.Quit()
}

// SubmitMany sends n messages from→to through submission on one session
// (STARTTLS, AUTH PLAIN), as a mail client with a backlog would.
func (e *OutInstance) SubmitMany(n int, from string, to func(i int) string) {
	e.t.Helper()
	c, err := smtp.Dial(e.Sub)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	host, _, _ := net.SplitHostPort(e.Sub)
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true, ServerName: host}); err != nil {
		e.t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", from, OutPass, host)); err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := c.Mail(from); err != nil {
			e.t.Fatal(err)
		}
		if err := c.Rcpt(to(i)); err != nil {
			e.t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			e.t.Fatal(err)
		}
		fmt.Fprintf(w, "Subject: message %d\r\n\r\n%s\r\n", i, strings.Repeat("x", 1000))
		if err := w.Close(); err != nil {
			e.t.Fatal(err)
		}
	}
	c.Quit()
}

// Restart stops the instance's ebb serve and starts it again on its config
// ("restart ebb serve" of a fix).
func (e *OutInstance) Restart() {
	e.t.Helper()
	e.srv.Stop()
	e.srv = StartServe(e.t, e.Conf, e.logPath)
	e.srv.WaitListening(e.t, 30*time.Second, e.SMTP)
	WaitTCP(e.t, e.SMTP, "220", 10*time.Second)
}

// QueuedFix is the fix mailq --json gives for the first recipient that
// has one.
func (e *OutInstance) QueuedFix() *diag.Fix {
	e.t.Helper()
	r := Run(e.t, exec.Command(Ebb(e.t), "mailq", "--json", "-c", e.Conf), nil)
	var find func(v any) *diag.Fix
	find = func(v any) *diag.Fix {
		switch v := v.(type) {
		case map[string]any:
			if f, ok := v["fix"]; ok {
				b, _ := json.Marshal(f)
				var fix diag.Fix
				if json.Unmarshal(b, &fix) == nil && (len(fix.Steps) > 0 || fix.Or != nil) {
					return &fix
				}
			}
			for _, x := range v {
				if f := find(x); f != nil {
					return f
				}
			}
		case []any:
			for _, x := range v {
				if f := find(x); f != nil {
					return f
				}
			}
		}
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(r.Stdout), &v); err != nil {
		e.t.Fatalf("mailq --json: %v\n%s%s", err, r.Stdout, r.Stderr)
	}
	f := find(v)
	if f == nil {
		e.t.Fatalf("no fix in mailq --json:\n%s", r.Stdout)
	}
	return f
}

// Follow does what the steps of a fix say, literally: each "set KEY =
// VALUE in FILE" edits that line of FILE's [section], each "restart ebb
// serve" restarts it. A step of words fails the test: it cannot be
// followed by a program.
func (e *OutInstance) Follow(steps []diag.Step) {
	e.t.Helper()
	for _, s := range steps {
		switch {
		case s.Set != nil:
			SetTOML(e.t, s.Set.File, s.Set.Key, s.Set.Value)
		case s.Daemon == "restart":
			e.Restart()
		default:
			e.t.Fatalf("cannot follow the step %q", s.String())
		}
	}
}

// SetTOML sets section.key = value (TOML text) in file.
func SetTOML(t *testing.T, file, key, value string) {
	t.Helper()
	i := strings.LastIndexByte(key, '.')
	section, name := key[:i], key[i+1:]
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	in, at := false, -1
	for j, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "[") {
			in = l == "["+section+"]"
			if in {
				at = j + 1
			}
			continue
		}
		if in && (strings.HasPrefix(l, name+" ") || strings.HasPrefix(l, name+"=")) {
			lines[j] = name + " = " + value
			at = -2
			break
		}
	}
	switch at {
	case -1:
		lines = append(lines, "["+section+"]", name+" = "+value)
	case -2:
	default:
		lines = append(lines[:at], append([]string{name + " = " + value}, lines[at:]...)...)
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}
