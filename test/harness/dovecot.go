package harness

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Dovecot is a running Dovecot (imap only, plaintext login on 127.0.0.1)
// serving Maildirs that something else delivered into. Recipe:
// shared/notes/services.md section 4, run as root with the mail uid of the
// given user, so that it reads exactly what ebb wrote as that user.
type Dovecot struct {
	Dir  string // its config, state and log
	Addr string // host:port of the IMAP listener
	Conf string
	cmd  *exec.Cmd
}

// DovecotUser is a login whose home holds its Maildir (home/Maildir).
type DovecotUser struct {
	Name, Password, Home string
}

// StartDovecot starts Dovecot for users, all with mail uid/gid of mailUser,
// and stops it when the test ends.
func StartDovecot(t testing.TB, mailUser User, users []DovecotUser) *Dovecot {
	t.Helper()
	RequireRoot(t)
	Install(t, "dovecot-core", "dovecot-imapd")
	d := &Dovecot{Dir: Dir(t)}
	for _, s := range []string{"run", "state"} {
		if err := os.MkdirAll(filepath.Join(d.Dir, s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var pw strings.Builder
	for _, u := range users {
		// passwd-file: user:{scheme}pass:uid:gid:gecos:home:shell:extra
		fmt.Fprintf(&pw, "%s:{PLAIN}%s:%d:%d::%s::\n", u.Name, u.Password, mailUser.UID, mailUser.GID, u.Home)
	}
	users_ := filepath.Join(d.Dir, "users")
	if err := os.WriteFile(users_, []byte(pw.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	d.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	d.Conf = filepath.Join(d.Dir, "dovecot.conf")
	conf := DovecotHead(fmt.Sprintf("ebbtest-%d", port), d.Dir, "imap") + fmt.Sprintf(`ssl = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s
}
userdb {
  driver = passwd-file
  args = username_format=%%u %[1]s
}
`, users_) + DovecotService("imap-login", DovecotInet{Name: "imap", Port: port})
	if err := os.WriteFile(d.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d.run(t)
	return d
}

// StartDovecotConf starts Dovecot with a whole configuration the caller
// wrote (conf, in dir, its IMAP listener on addr), and stops it when the
// test ends: for tests of a configuration ebb prints.
func StartDovecotConf(t testing.TB, dir, conf, addr string) *Dovecot {
	t.Helper()
	RequireRoot(t)
	d := &Dovecot{Dir: dir, Addr: addr, Conf: conf}
	d.run(t)
	return d
}

// run validates d.Conf, starts Dovecot in the foreground and waits for the
// IMAP greeting on d.Addr.
func (d *Dovecot) run(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("doveconf", "-c", d.Conf, "-n").CombinedOutput(); err != nil {
		t.Fatalf("doveconf: %v\n%s", err, out)
	}
	d.cmd = exec.Command("dovecot", "-c", d.Conf, "-F")
	d.cmd.Stdout, d.cmd.Stderr = os.Stderr, os.Stderr
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopDovecot(d.cmd)
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(d.Dir, "dovecot.log")); err == nil {
				t.Logf("dovecot.log:\n%s", log)
			}
		}
	})
	WaitTCP(t, d.Addr, "* OK", 15*time.Second)
}

// stopDovecot ends a Dovecot started with Setpgid and waits for it:
// SIGTERM, then SIGKILL to its process group after 10 s.
func stopDovecot(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Log returns Dovecot's log so far.
func (d *Dovecot) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "dovecot.log"))
	return string(b)
}

// IMAP is a minimal IMAP client for checking what a server returns: enough
// to log in, select and fetch literals byte for byte.
type IMAP struct {
	c   net.Conn
	r   *bufio.Reader
	tag int
}

// DialIMAP connects and logs in.
func DialIMAP(t testing.TB, addr, user, pass string) *IMAP {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second))
	m := &IMAP{c: c, r: bufio.NewReaderSize(c, 1<<16)}
	if line, err := m.r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "* OK") {
		t.Fatalf("IMAP greeting %q: %v", line, err)
	}
	if _, err := m.Cmd(fmt.Sprintf("LOGIN %s %s", imapQuote(user), imapQuote(pass))); err != nil {
		t.Fatal(err)
	}
	return m
}

// Close ends the connection.
func (m *IMAP) Close() error { return m.c.Close() }

func imapQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Response is one untagged response with its literals.
type Response struct {
	Line     string   // the text, literals replaced by {n}
	Literals [][]byte // in order
}

var literalRE = regexp.MustCompile(`\{(\d+)\}\r\n$`)

// Cmd sends one command and returns the untagged responses; a NO or BAD
// is an error.
func (m *IMAP) Cmd(cmd string) ([]Response, error) {
	m.c.SetDeadline(time.Now().Add(60 * time.Second))
	m.tag++
	tag := fmt.Sprintf("t%d", m.tag)
	if _, err := fmt.Fprintf(m.c, "%s %s\r\n", tag, cmd); err != nil {
		return nil, err
	}
	var out []Response
	for {
		var resp Response
		var text strings.Builder
		for {
			line, err := m.r.ReadString('\n')
			if err != nil {
				return out, fmt.Errorf("%s: %w", cmd, err)
			}
			text.WriteString(strings.TrimRight(line, "\r\n"))
			mm := literalRE.FindStringSubmatch(line)
			if mm == nil {
				break
			}
			n, _ := strconv.Atoi(mm[1])
			lit := make([]byte, n)
			if _, err := io.ReadFull(m.r, lit); err != nil {
				return out, err
			}
			resp.Literals = append(resp.Literals, lit)
		}
		resp.Line = text.String()
		if strings.HasPrefix(resp.Line, tag+" ") {
			if !strings.HasPrefix(resp.Line, tag+" OK") {
				return out, fmt.Errorf("%s: %s", cmd, resp.Line)
			}
			return out, nil
		}
		out = append(out, resp)
	}
}

// Fetched is one message as the server returns it.
type Fetched struct {
	Seq         int
	Size        int    // RFC822.SIZE
	Body        []byte // BODY[]
	Flags       string
	InternalRaw string
}

var (
	fetchSeqRE  = regexp.MustCompile(`^\* (\d+) FETCH`)
	fetchSizeRE = regexp.MustCompile(`RFC822\.SIZE (\d+)`)
	fetchFlagRE = regexp.MustCompile(`FLAGS \(([^)]*)\)`)
)

// FetchAll selects mailbox and fetches every message's size, flags and
// BODY.PEEK[].
func (m *IMAP) FetchAll(mailbox string) ([]Fetched, error) {
	if _, err := m.Cmd("SELECT " + imapQuote(mailbox)); err != nil {
		return nil, err
	}
	rs, err := m.Cmd("FETCH 1:* (FLAGS RFC822.SIZE BODY.PEEK[])")
	if err != nil {
		if strings.Contains(err.Error(), "Invalid messageset") || strings.Contains(err.Error(), "No messages") {
			return nil, nil
		}
		return nil, err
	}
	var out []Fetched
	for _, r := range rs {
		mm := fetchSeqRE.FindStringSubmatch(r.Line)
		if mm == nil {
			continue
		}
		f := Fetched{}
		f.Seq, _ = strconv.Atoi(mm[1])
		if s := fetchSizeRE.FindStringSubmatch(r.Line); s != nil {
			f.Size, _ = strconv.Atoi(s[1])
		}
		if s := fetchFlagRE.FindStringSubmatch(r.Line); s != nil {
			f.Flags = s[1]
		}
		if len(r.Literals) > 0 {
			f.Body = r.Literals[0]
		}
		out = append(out, f)
	}
	return out, nil
}

// DovecotHead is how a test's Dovecot configuration begins: its own
// instance name, run and state directories and log (dovecot.log, info
// lines too) below dir, protocols served on 127.0.0.1 only, plaintext
// logins allowed and trusted from loopback, no delay after a failed login.
// The caller adds ssl, auth_mechanisms, the user databases and the
// listeners (DovecotService).
func DovecotHead(instance, dir, protocols string) string {
	return fmt.Sprintf(`instance_name = %[2]s
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
info_log_path = %[1]s/dovecot.log
protocols = %[3]s
listen = 127.0.0.1
disable_plaintext_auth = no
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
`, dir, instance, protocols)
}

// DovecotInet is one inet_listener of a Dovecot service, on 127.0.0.1.
type DovecotInet struct {
	Name string
	Port int
	TLS  bool // TLS from the first byte (imaps, pop3s)
}

// DovecotService is a service block with its inet_listeners.
func DovecotService(service string, listeners ...DovecotInet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "service %s {\n", service)
	for _, l := range listeners {
		fmt.Fprintf(&b, "  inet_listener %s {\n    address = 127.0.0.1\n    port = %d\n", l.Name, l.Port)
		if l.TLS {
			b.WriteString("    ssl = yes\n")
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}
