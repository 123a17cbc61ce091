package harness

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The scanners of issue 13, started from temp configs on loopback
// (recipes: shared/notes/services.md): spamd once per test process (3 s to
// start), clamd per test (65 ms with its two-signature database, and tests
// stop it), clamav-milter in front of a clamd.

// EICAR is the antivirus test string, built from two halves at run time so
// that no file in the repository holds it (scanners on a developer's
// machine would flag the file).
func EICAR() string {
	return `X5O!P%@AP[4\PZX54(P^)7CC)7}$` + `EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`
}

// GTUBE is SpamAssassin's spam test string, also built from two halves.
func GTUBE() string {
	return `XJS*C4JDBQADN1.NSBN3*2IDNEN*` + `GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X`
}

// watchAndKill starts a detached watcher that kills pid (with sig) and
// removes dir once this test process is gone, whatever ends it: shared
// services need no TestMain.
func watchAndKill(pid int, dir string) {
	script := fmt.Sprintf(`while kill -0 %d 2>/dev/null; do sleep 0.5; done; kill -TERM %d 2>/dev/null; sleep 2; kill -KILL %d 2>/dev/null; rm -rf %s`,
		os.Getpid(), pid, pid, dir)
	w := exec.Command("sh", "-c", script)
	w.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := w.Start(); err == nil {
		go w.Wait()
	}
}

// Spamd is a running SpamAssassin spamd.
type Spamd struct {
	Addr string
	Dir  string
	cmd  *exec.Cmd
}

// SharedSpamd returns one spamd for the whole test process (local tests
// only, -L: no DNS; no Bayes; no per-user config), started on first use.
func SharedSpamd(t testing.TB) *Spamd {
	t.Helper()
	RequireRoot(t)
	Install(t, "spamassassin", "spamd", "spamc")
	return sharedSpamd.get(t)
}

var sharedSpamd = newShared("spamd", "ebb-spamd-", func(dir string) (*Spamd, error) {
	os.Chmod(dir, 0o755)
	s, err := startSpamd(dir)
	if err == nil {
		watchAndKill(s.cmd.Process.Pid, dir)
	}
	return s, err
})

func startSpamd(dir string) (*Spamd, error) {
	port := freePort()
	s := &Spamd{Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: dir}
	logf, err := os.Create(filepath.Join(dir, "spamd.log"))
	if err != nil {
		return nil, err
	}
	// spamd's children keep their state in HOME: the test's directory,
	// not debian-spamd's /var/lib/spamassassin.
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		return nil, err
	}
	if u, err := user.Lookup("debian-spamd"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		os.Chown(home, uid, gid)
	}
	os.Chmod(dir, 0o755)
	s.cmd = exec.Command("spamd", "--listen="+s.Addr, "--allowed-ips=127.0.0.1", "-u", "debian-spamd", "-x", "-L", "--helper-home-dir="+home,
		"--max-children=2", "--min-children=1", "--min-spare=1", "--max-spare=2",
		"--cf=use_bayes 0", "--cf=bayes_auto_learn 0",
		"-r", filepath.Join(dir, "spamd.pid"), "-s", "stderr")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if spamdPing(s.Addr) == nil {
			return s, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "spamd.log"))
	s.cmd.Process.Kill()
	return nil, fmt.Errorf("spamd on %s not answering PING after 60s:\n%s", s.Addr, log)
}

func spamdPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprint(c, "PING SPAMC/1.5\r\n\r\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.Contains(line, "PONG") {
		return fmt.Errorf("PING: %q", line)
	}
	return nil
}

// Log is spamd's log so far.
func (s *Spamd) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "spamd.log"))
	return string(b)
}

// Clamd is a running clamd with a database of two test signatures:
// Eicar-Test-Signature (any file holding the EICAR string) and
// ClamAV-Test-File (the clamav-testfiles program). Names get ClamAV's
// ".UNOFFICIAL" suffix.
type Clamd struct {
	Addr string // 127.0.0.1:port
	Dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// ClamdOptions tune StartClamd.
type ClamdOptions struct {
	StreamMaxLength string // clamd's limit, e.g. "1M" ("" is 50M)
	IdleTimeout     int    // seconds before clamd closes an idle session (0: its default, 30)
}

// StartClamd starts a clamd of the test's own, stopped when the test ends.
func StartClamd(t testing.TB, o ClamdOptions) *Clamd {
	t.Helper()
	RequireRoot(t)
	Install(t, "clamav-daemon", "clamdscan", "clamav-testfiles")
	dir := Dir(t)
	db := filepath.Join(dir, "db")
	os.MkdirAll(db, 0o755)
	eicar := hex.EncodeToString([]byte(EICAR()))
	if err := os.WriteFile(filepath.Join(db, "test.ndb"), []byte("Eicar-Test-Signature:0:*:"+eicar+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if exe, err := os.ReadFile("/usr/share/clamav-testfiles/clam.exe"); err == nil {
		sum := md5.Sum(exe)
		os.WriteFile(filepath.Join(db, "test.hdb"), []byte(fmt.Sprintf("%x:%d:ClamAV-Test-File\n", sum, len(exe))), 0o644)
	}
	max := o.StreamMaxLength
	if max == "" {
		max = "50M"
	}
	c := &Clamd{Addr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)), Dir: dir, done: make(chan struct{})}
	_, port, _ := net.SplitHostPort(c.Addr)
	conf := fmt.Sprintf(`Foreground yes
DatabaseDirectory %s
TCPSocket %s
TCPAddr 127.0.0.1
PidFile %s/clamd.pid
LogFile %s/clamd.log
LogTime yes
StreamMaxLength %s
MaxThreads 4
SelfCheck 0
`, db, port, dir, dir, max)
	if o.IdleTimeout > 0 {
		conf += fmt.Sprintf("IdleTimeout %d\n", o.IdleTimeout)
	}
	if err := os.WriteFile(c.Conf(), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c.start(t)
	t.Cleanup(c.Stop)
	return c
}

// Conf is the clamd.conf path (ebb doctor reads StreamMaxLength from it).
func (c *Clamd) Conf() string { return filepath.Join(c.Dir, "clamd.conf") }

func (c *Clamd) start(t testing.TB) {
	t.Helper()
	c.cmd = exec.Command("clamd", "-c", c.Conf())
	out, _ := os.OpenFile(filepath.Join(c.Dir, "clamd.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	c.cmd.Stdout, c.cmd.Stderr = out, out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.done = make(chan struct{})
	go func() { c.cmd.Wait(); out.Close(); close(c.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if ClamdPing(c.Addr) == nil {
			return
		}
		select {
		case <-c.done:
			t.Fatalf("clamd exited: %s", c.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("clamd on %s not answering PING: %s", c.Addr, c.Log())
}

// ClamdPing sends zPING and wants PONG.
func ClamdPing(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	conn.Write([]byte("zPING\x00"))
	b := make([]byte, 16)
	n, _ := conn.Read(b)
	if strings.TrimRight(string(b[:n]), "\x00") != "PONG" {
		return fmt.Errorf("zPING: %q", b[:n])
	}
	return nil
}

// Restart stops clamd, which closes every session it had open, and starts
// it again on the same address.
func (c *Clamd) Restart(t testing.TB) {
	t.Helper()
	c.Stop()
	c.start(t)
}

// Stop ends clamd (SIGTERM, then SIGKILL) and waits for it.
func (c *Clamd) Stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// Log is clamd's log and output.
func (c *Clamd) Log() string {
	a, _ := os.ReadFile(filepath.Join(c.Dir, "clamd.log"))
	b, _ := os.ReadFile(filepath.Join(c.Dir, "clamd.out"))
	return string(a) + string(b)
}

// ClamavMilter is clamav-milter in front of a clamd, listening on
// inet:PORT@127.0.0.1.
type ClamavMilter struct {
	Addr string // 127.0.0.1:port
	Dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartClamavMilter starts clamav-milter for clamd (OnInfected Reject, or
// the action given: Quarantine, Accept, Blackhole; AddHeader Replace:
// X-Virus-Scanned and X-Virus-Status), stopped when the test ends.
func StartClamavMilter(t testing.TB, c *Clamd, onInfected ...string) *ClamavMilter {
	t.Helper()
	Install(t, "clamav-milter")
	dir := Dir(t)
	m := &ClamavMilter{Addr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)), Dir: dir, done: make(chan struct{})}
	_, port, _ := net.SplitHostPort(m.Addr)
	action := "Reject"
	if len(onInfected) > 0 {
		action = onInfected[0]
	}
	conf := fmt.Sprintf(`Foreground yes
MilterSocket inet:%s@127.0.0.1
ClamdSocket tcp:%s
PidFile %s/milter.pid
LogFile %s/milter.log
LogInfected Full
LogClean Full
OnInfected %s
OnFail Defer
AddHeader Replace
ReadTimeout 30
`, port, c.Addr, dir, dir, action)
	cf := filepath.Join(dir, "clamav-milter.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	m.cmd = exec.Command("clamav-milter", "-c", cf)
	out, _ := os.Create(filepath.Join(dir, "milter.out"))
	m.cmd.Stdout, m.cmd.Stderr = out, out
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.cmd.Wait(); out.Close(); close(m.done) }()
	t.Cleanup(func() {
		m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.done:
		case <-time.After(10 * time.Second):
			m.cmd.Process.Kill()
			<-m.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.DialTimeout("tcp", m.Addr, time.Second); err == nil {
			conn.Close()
			return m
		}
		select {
		case <-m.done:
			t.Fatalf("clamav-milter exited: %s", m.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("clamav-milter not listening on %s: %s", m.Addr, m.Log())
	return nil
}

// Log is clamav-milter's log and output.
func (m *ClamavMilter) Log() string {
	a, _ := os.ReadFile(filepath.Join(m.Dir, "milter.log"))
	b, _ := os.ReadFile(filepath.Join(m.Dir, "milter.out"))
	return string(a) + string(b)
}

// Rspamd is a running rspamd (normal worker only on loopback; fuzzy_check
// off; its resolver pointed at 127.0.0.1:53 so that no lookup leaves the
// machine).
type Rspamd struct {
	Addr string
	Dir  string
}

// RspamdSkipSender is the envelope sender for whom the shared rspamd's
// settings skip every check.
const RspamdSkipSender = "skip-checks@rspamd-skip.test"

// RspamdCache keeps rspamd's compiled hyperscan database between test
// runs on one machine: a cold start compiles it for 25-60 s, a warm one
// takes about a second.
const RspamdCache = "/var/tmp/ebb-test-rspamd-db"

// SharedRspamd returns one rspamd for the whole test process, started on
// first use.
func SharedRspamd(t testing.TB) *Rspamd {
	t.Helper()
	RequireRoot(t)
	Install(t, "rspamd")
	return sharedRspamd.get(t)
}

var sharedRspamd = newShared("rspamd", "ebb-rspamd-", startRspamd)

func startRspamd(dir string) (*Rspamd, error) {
	r := &Rspamd{Addr: fmt.Sprintf("127.0.0.1:%d", freePort()), Dir: dir}
	files := map[string]string{
		"etc/override.d/worker-normal.inc":     fmt.Sprintf("bind_socket = %q;\ncount = 1;\n", r.Addr),
		"etc/override.d/worker-controller.inc": fmt.Sprintf("bind_socket = \"127.0.0.1:%d\";\ncount = 1;\n", freePort()),
		"etc/override.d/worker-proxy.inc":      "enabled = false;\n",
		"etc/override.d/fuzzy_check.conf":      "enabled = false;\n",
		"etc/override.d/logging.inc":           fmt.Sprintf("type = \"file\";\nfilename = \"%s/log/rspamd.log\";\nlevel = \"info\";\n", dir),
		"etc/local.d/options.inc":              "dns {\n  nameserver = [\"127.0.0.1:53\"];\n  timeout = 0.5s;\n  retransmits = 1;\n}\n",
		// A settings rule, as an admin writes one to exempt a sender:
		// rspamd then answers is_skipped with score 0 and "no action".
		"etc/local.d/settings.conf": fmt.Sprintf("ebb_test_skip {\n  from = %q;\n  apply {\n    flags = [\"skip\"];\n  }\n}\n", RspamdSkipSender),
	}
	for _, d := range []string{"etc/override.d", "etc/local.d", "run", "log"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	for p, c := range files {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			return nil, err
		}
	}
	os.MkdirAll(RspamdCache, 0o755)
	for _, p := range []string{dir, RspamdCache} {
		if out, err := exec.Command("chown", "-R", "_rspamd:_rspamd", p).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("chown %s: %v %s", p, err, out)
		}
	}
	os.Chmod(dir, 0o755)
	stdout, err := os.Create(filepath.Join(dir, "log", "stdout"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("rspamd", "-f", "-u", "_rspamd", "-g", "_rspamd", "-c", "/etc/rspamd/rspamd.conf",
		"--var=LOCAL_CONFDIR="+dir+"/etc", "--var=DBDIR="+RspamdCache, "--var=RUNDIR="+dir+"/run", "--var=LOGDIR="+dir+"/log")
	cmd.Stdout, cmd.Stderr = stdout, stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); stdout.Close(); close(done) }()
	watchAndKill(cmd.Process.Pid, dir)
	deadline := time.Now().Add(150 * time.Second)
	for time.Now().Before(deadline) {
		if rspamdPing(r.Addr) == nil {
			return r, nil
		}
		select {
		case <-done:
			return nil, fmt.Errorf("rspamd exited: %s", r.Log())
		case <-time.After(200 * time.Millisecond):
		}
	}
	cmd.Process.Kill()
	return nil, fmt.Errorf("rspamd on %s not answering /ping after 150s: %s", r.Addr, r.Log())
}

func rspamdPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "GET /ping HTTP/1.0\r\n\r\n")
	b := make([]byte, 512)
	n, _ := io.ReadFull(c, b)
	if !strings.Contains(string(b[:n]), "pong") {
		return fmt.Errorf("/ping: %q", b[:n])
	}
	return nil
}

// Log is rspamd's log and output.
func (r *Rspamd) Log() string {
	a, _ := os.ReadFile(filepath.Join(r.Dir, "log", "rspamd.log"))
	b, _ := os.ReadFile(filepath.Join(r.Dir, "log", "stdout"))
	return string(a) + string(b)
}
