// Package harness is what the integration tests in test/ share: the built ebb
// binary, an unprivileged user to run it as (CI runs as root, and root
// ignores file modes), free loopback ports, and waiting for a service.
//
// Outside services (Dovecot, PostgreSQL, Postfix tools, Pigeonhole) each have
// their own file here. They are started on 127.0.0.1 in a per-test
// directory and stopped by pid when the test ends.
package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/servetest"
)

// TestUser is the unprivileged account the tests run ebb as.
const TestUser = "ebbtest"

var ebbBuild binaryBuild

// Ebb returns the path of the ebb binary: $EBB_BIN when set (the test
// command builds it once), else a build of ./cmd/ebb made once per test
// process, in a directory every user can read and execute.
func Ebb(t testing.TB) string {
	t.Helper()
	return ebbBuild.path(t, "EBB_BIN", "./cmd/ebb", "ebb")
}

// binaryBuild builds one command of the repository once per test process.
type binaryBuild struct {
	once sync.Once
	bin  string
	err  error
}

// path is $env when set, else the build of pkg (as name).
func (b *binaryBuild) path(t testing.TB, env, pkg, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", name+"-bin-")
		if err != nil {
			b.err = err
			return
		}
		os.Chmod(dir, 0o755)
		b.bin = filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", b.bin, pkg)
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

// RepoRoot is the directory holding go.mod.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// User is a system account.
type User struct {
	Name     string
	UID, GID int
}

var userMu sync.Mutex

// Unprivileged returns the test user, creating it when missing. It needs
// root, which the test command has; a permission test that ran as root would
// prove nothing, so there is no fallback.
func Unprivileged(t testing.TB) User {
	t.Helper()
	return EnsureUser(t, TestUser)
}

// EnsureUser returns the system user name, creating it (with its own group)
// when missing.
func EnsureUser(t testing.TB, name string) User {
	t.Helper()
	return ensureUser(t, name, false)
}

// EnsureLoginUser returns the login account name (uid ≥ 1000, as a person
// has), creating it when missing.
func EnsureLoginUser(t testing.TB, name string) User {
	t.Helper()
	return ensureUser(t, name, true)
}

// TestUsers are the accounts the tests create and run programs as.
// test/run-all.sh creates them before the tests (go run
// ./test/harness/mkusers): its check that the tests changed nothing outside
// their temp dirs would otherwise see /etc/passwd change on a fresh
// machine, as CI is. A test that needs another account adds it here.
var TestUsers = []struct {
	Name  string
	Login bool // a person's account (uid ≥ 1000), not a system user
}{
	{TestUser, false}, {"ebbvmail", false}, {"ebbremote", false}, {"ebbother", false}, {"ebbnewbie", true},
}

// CreateTestUsers creates those of TestUsers that are missing.
func CreateTestUsers() error {
	for _, u := range TestUsers {
		if err := createUser(u.Name, u.Login); err != nil {
			return err
		}
	}
	return nil
}

func ensureUser(t testing.TB, name string, login bool) User {
	t.Helper()
	listed := false
	for _, u := range TestUsers {
		listed = listed || (u.Name == name && u.Login == login)
	}
	// In a throwaway root (the package test) anything goes: it vanishes.
	if !listed && os.Getenv(throwawayEnv) == "" {
		t.Fatalf("user %s is not in harness.TestUsers (login %v): add it there, so that test/run-all.sh creates it before the tests", name, login)
	}
	if err := createUser(name, login); err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return User{Name: name, UID: uid, GID: gid}
}

// createUser creates the user name when missing, one at a time in this
// process (tests run in parallel), and tries again while another process
// (another test package) holds the lock of /etc/passwd.
func createUser(name string, login bool) error {
	userMu.Lock()
	defer userMu.Unlock()
	if _, err := user.Lookup(name); err == nil {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("user %s does not exist and only root can create it: run the tests as root (the test command does)", name)
	}
	args := []string{"--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name}
	if !login {
		args = append([]string{"--system", "--user-group"}, args...)
	}
	for try := 0; ; try++ {
		out, err := exec.Command("useradd", args...).CombinedOutput()
		switch {
		case err == nil, strings.Contains(string(out), "already exists"):
			return nil
		case strings.Contains(string(out), "lock") && try < 100:
			time.Sleep(100 * time.Millisecond) // another useradd holds /etc/passwd's lock
		default:
			return fmt.Errorf("useradd %s: %v: %s", name, err, out)
		}
	}
}

// RequireRoot fails the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test must run as root so that it can run ebb as an unprivileged user; the test command runs it as root")
	}
}

// AsUser makes cmd run as u (with only u's group).
func AsUser(cmd *exec.Cmd, u User) *exec.Cmd {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: []uint32{}}
	return cmd
}

// Dir returns a fresh directory that every user can traverse (0755 on it and
// its parents up to the test's temp root), owned by root.
func Dir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	for p := d; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	return d
}

// Chown changes the owner of path and everything below it.
func Chown(t testing.TB, path string, u User) {
	t.Helper()
	err := filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, u.UID, u.GID)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// shared is one outside program for the whole test process (a package's
// tests share it), started on first use in a temporary directory of its
// own; a test that cannot have it fails, naming it.
type shared[T any] struct {
	what  string
	start func() (T, error)
}

func newShared[T any](what, dirPrefix string, start func(dir string) (T, error)) *shared[T] {
	return &shared[T]{what: what, start: sync.OnceValues(func() (T, error) {
		dir, err := os.MkdirTemp("", dirPrefix)
		if err != nil {
			var zero T
			return zero, err
		}
		return start(dir)
	})}
}

func (s *shared[T]) get(t testing.TB) T {
	t.Helper()
	v, err := s.start()
	if err != nil {
		t.Fatalf("start %s: %v", s.what, err)
	}
	return v
}

// FreePort returns a TCP port on 127.0.0.1, free a moment ago, that no
// other test process is handed and the kernel never gives to a bind to
// port 0 (servetest.FreePort).
func FreePort(t testing.TB) int {
	t.Helper()
	return servetest.FreePort(t)
}

// freePortErr is FreePort for code without a testing.TB (the services
// started once per package run).
func freePortErr() (int, error) { return servetest.FreePortErr() }

// ClaimFixedPort waits until no other test process (in this network
// namespace) holds the fixed port, and holds it until t ends: for a test
// that must listen on a documented port (the README's 127.0.0.1:2525), so
// that two runs of it at once (parallel packages, other people's runs on
// the same machine) take turns instead of failing.
func ClaimFixedPort(t testing.TB, port int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		claim, err := net.ListenUnix("unix", &net.UnixAddr{Name: fmt.Sprintf("@ebb-test-port-%d", port), Net: "unix"})
		if err == nil {
			t.Cleanup(func() { claim.Close() })
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d: another test process has held it for 10 minutes", port)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitTCP waits until addr accepts a connection and, when greeting is not
// empty, its first line starts with greeting.
func WaitTCP(t testing.TB, addr, greeting string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			if greeting == "" {
				c.Close()
				return
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && strings.HasPrefix(line, greeting) {
				return
			}
			last = fmt.Errorf("greeting %q: %v", line, err)
		} else {
			last = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready after %s: %v", addr, timeout, last)
}

// WaitFor waits until cond is true, checking it every 20 ms, and fails the
// test naming what it waited for when within passes first. It is how a
// test watches for an event it cannot be told about (a file appearing, a
// log line, a queue emptying): the deadline is generous, the wait as short
// as the event allows.
func WaitFor(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	WaitForSaying(t, what, within, 20*time.Millisecond, cond, nil)
}

// WaitForSaying is WaitFor for a cond that costs something (it runs a
// command, sends a message): checked every every, and on failure the test
// also prints detail() (logs, the last output; nil for nothing).
func WaitForSaying(t testing.TB, what string, within, every time.Duration, cond func() bool, detail func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			if detail != nil {
				t.Fatalf("waited %s for %s\n%s", within, what, detail())
			}
			t.Fatalf("waited %s for %s", within, what)
		}
		time.Sleep(every)
	}
}

// Result is what a finished command did.
type Result struct {
	Code   int
	Stdout string
	Stderr string
}

// Run runs cmd with stdin, and returns its exit code and output. A command
// that could not start fails the test.
func Run(t testing.TB, cmd *exec.Cmd, stdin []byte) Result {
	t.Helper()
	var out, errb bytes.Buffer
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run %v: %v", cmd.Args, err)
		}
		r.Code = ee.ExitCode()
	}
	return r
}

// Install fails the test unless the Debian packages pkgs are installed. A
// test installs nothing itself (it would change the host's packages, and it
// runs without a network): test/run-all.sh installs test/packages.txt before
// the tests, so every package a test names here belongs in that list.
func Install(t testing.TB, pkgs ...string) {
	t.Helper()
	var missing []string
	for _, p := range pkgs {
		out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", p).Output()
		if err != nil || !strings.Contains(string(out), "install ok installed") {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("the test needs the Debian packages %s, not installed here: test/run-all.sh installs test/packages.txt (or: apt-get install --no-install-recommends %s)",
			strings.Join(missing, ", "), strings.Join(missing, " "))
	}
}

// Connected reports whether a TCP connection of this network namespace to
// remote (host:port, IPv4) is open (ESTABLISHED in /proc/net/tcp): a test
// waits for it to turn false when a server is to end an idle session.
func Connected(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil || !ap.Addr().Is4() {
		return false
	}
	a := ap.Addr().As4()
	// /proc/net/tcp writes the address as the 32-bit word in host order
	// (little-endian here), then the port in big-endian hex.
	want := fmt.Sprintf("%02X%02X%02X%02X:%04X", a[3], a[2], a[1], a[0], ap.Port())
	b, _ := os.ReadFile("/proc/net/tcp")
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 3 && f[2] == want && f[3] == "01" {
			return true
		}
	}
	return false
}
