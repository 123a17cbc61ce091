package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ebbmail/ebb/internal/dnstest"
)

var emptyDNS = struct {
	once sync.Once
	addr string
	err  error
}{}

// EmptyDNSServer starts, once per test process, a test DNS server that
// knows no name: every query is answered at once with "no such name", as
// the public DNS answers for the reserved names the tests use (.test,
// .example, localhost: RFC 2606, RFC 6761). It returns its address.
//
// It listens on port 53, so that a resolv.conf (which names no port) can
// name it too, on a loopback address of this process's own: the test
// packages run in parallel (and other people's tests on the same machine),
// and each has its server. The address is 127.53.X.Y from the pid, the
// next one when that is taken; no system resolver listens in 127.53/16.
func EmptyDNSServer(t testing.TB) string {
	t.Helper()
	emptyDNS.once.Do(func() { emptyDNS.addr, emptyDNS.err = startEmptyDNS(os.Getpid()) })
	if emptyDNS.err != nil {
		t.Fatalf("the empty test DNS server: %v", emptyDNS.err)
	}
	return emptyDNS.addr
}

// startEmptyDNS starts the empty server on port 53 of the first free
// address 127.53.X.Y from the one seed picks.
func startEmptyDNS(seed int) (string, error) {
	var last error
	for i := range 64 {
		n := (seed + i*7919) % (254 * 256)
		addr := fmt.Sprintf("127.53.%d.%d:53", n/254, n%254+1)
		if _, err := dnstest.StartOn(addr); err != nil {
			last = err
			continue
		}
		return addr, nil
	}
	return "", fmt.Errorf("no free address in 127.53/16 for port 53: %v", last)
}

// EmptyDNS gives conf, when it has no [dns] section, one naming
// EmptyDNSServer: for commands that look names up (doctor's relay.dns and
// auth.dns) in a test that needs no answers, and must not ask the host's
// resolver. A daemon whose mail to other domains must wait rather than
// bounce gets LoopbackDNS instead.
func EmptyDNS(t testing.TB, conf string) {
	t.Helper()
	addr := EmptyDNSServer(t)
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("[dns]")) {
		return
	}
	b = append(b, fmt.Sprintf("\n[dns]\n# harness.EmptyDNS: a test server that knows no name\nresolver = %q\n", addr)...)
	if err := os.WriteFile(conf, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// WithEmptySystemResolver returns cmd run so that the system's resolver it
// sees is EmptyDNSServer: in a mount namespace of its own where
// /etc/resolv.conf names that server. For code that uses the system's
// resolver whatever the test's config says (ebb serve --demo writes its own
// config). cmd's Credential is applied by setpriv after the mount (making
// the namespace needs root); its pid stays the program's.
func WithEmptySystemResolver(t testing.TB, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	RequireRoot(t)
	addr := EmptyDNSServer(t)
	conf := filepath.Join(Dir(t), "resolv.conf")
	host := addr[:len(addr)-len(":53")]
	if err := os.WriteFile(conf, []byte("nameserver "+host+"\noptions timeout:1 attempts:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	argv := []string{"-m", "--propagation", "private", "sh", "-c", `mount --bind "$1" /etc/resolv.conf && shift && exec "$@"`, "sh", conf}
	if sp := cmd.SysProcAttr; sp != nil && sp.Credential != nil {
		argv = append(argv, "setpriv", "--reuid="+strconv.Itoa(int(sp.Credential.Uid)), "--regid="+strconv.Itoa(int(sp.Credential.Gid)), "--clear-groups")
		sp.Credential = nil
	}
	w := exec.Command("unshare", append(append(argv, cmd.Path), cmd.Args[1:]...)...)
	w.Dir, w.Env, w.Stdin, w.Stdout, w.Stderr, w.SysProcAttr = cmd.Dir, cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.SysProcAttr
	return w
}

// DeadRemoteDNS is the [dns] section for a test daemon whose mail to other
// domains must wait: a loopback DNS server that answers SERVFAIL for the
// remote domains the tests write to, so that the relay defers them with a
// DNS reason. No test ever asks the system's resolver (loopback only).
func DeadRemoteDNS(t *testing.T, extra string) string {
	t.Helper()
	if strings.Contains(extra, "[dns]") {
		return ""
	}
	s := StartDNS(t)
	for _, d := range []string{"remote.example", "example.org", "example.net", "example.com"} {
		s.ServFail(d, true)
	}
	return fmt.Sprintf("\n[dns]\nresolver = %q\ntimeout = \"2s\"\n", s.Addr())
}
