package harness

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Serve is one `ebb serve` process started by a test, its stdout and stderr
// appended to LogPath. Tests that run the daemon share this instead of each
// keeping its own process, log file and stop logic.
type Serve struct {
	LogPath  string
	logStart int64 // the log's size when this process started
	cmd      *exec.Cmd
	log      *os.File
	done     chan struct{}
	code     int
}

// StartServe starts `ebb serve -c conf` (as the caller: as root it drops to
// server.user itself) and stops it when the test ends. It does not wait for
// the listeners; each test knows what to wait for.
func StartServe(t testing.TB, conf, logPath string) *Serve {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	LoopbackDNS(t, conf)
	s := &Serve{LogPath: logPath, log: f, done: make(chan struct{})}
	if fi, err := f.Stat(); err == nil {
		s.logStart = fi.Size()
	}
	s.cmd = exec.Command(Ebb(t), "serve", "-c", conf)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	if err := s.cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	go func() {
		s.cmd.Wait()
		s.code = s.cmd.ProcessState.ExitCode()
		f.Close()
		close(s.done)
	}()
	t.Cleanup(func() { s.Stop() })
	return s
}

// Pid is the daemon's process id.
func (s *Serve) Pid() int { return s.cmd.Process.Pid }

// Signal sends sig to the daemon.
func (s *Serve) Signal(sig os.Signal) { s.cmd.Process.Signal(sig) }

// Exited is closed once the daemon has exited; ExitCode is valid then.
func (s *Serve) Exited() <-chan struct{} { return s.done }

// ExitCode is the daemon's exit code, once Exited is closed.
func (s *Serve) ExitCode() int { return s.code }

// Stop ends the daemon with SIGTERM, or SIGKILL after 20 s, and waits for
// it. It reports whether SIGTERM was enough. Stopping a stopped daemon does
// nothing.
func (s *Serve) Stop() bool {
	select {
	case <-s.done:
		return true
	default:
	}
	s.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return true
	case <-time.After(20 * time.Second):
		s.Kill()
		return false
	}
}

// Kill ends the daemon with SIGKILL (a crash) and waits for it.
func (s *Serve) Kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// WaitListening waits until this process has said it listens on every
// one of addrs (its "smtp listening" log lines: the socket is bound then),
// woken as it writes its log, and fails the test with the log when it
// exits or within passes first.
func (s *Serve) WaitListening(t testing.TB, within time.Duration, addrs ...string) {
	t.Helper()
	exited := false
	listening := func() bool {
		select {
		case <-s.done:
			exited = true
			return true
		default:
		}
		b, _ := os.ReadFile(s.LogPath)
		if int64(len(b)) < s.logStart {
			return false
		}
		var lines []string // the "smtp listening" lines, text or JSON
		for _, l := range strings.Split(string(b[s.logStart:]), "\n") {
			if strings.Contains(l, "smtp listening") {
				lines = append(lines, l)
			}
		}
		for _, a := range addrs {
			found := false
			for _, l := range lines {
				found = found || strings.Contains(l, " addr="+a+" ") || strings.Contains(l, `"addr":"`+a+`"`)
			}
			if !found {
				return false
			}
		}
		return true
	}
	if !WaitOn(within, listening, s.LogPath) || exited {
		t.Fatalf("ebb serve is not listening on %v (exited: %v); log:\n%s", addrs, exited, Tail(s.Log(), 30))
	}
}

// Log is everything the daemon has written so far.
func (s *Serve) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// EbbAs runs ebb with args as u and fails the test unless it exits 0.
func EbbAs(t testing.TB, u User, stdin []byte, args ...string) Result {
	t.Helper()
	r := Run(t, AsUser(exec.Command(Ebb(t), args...), u), stdin)
	if r.Code != 0 {
		t.Fatalf("ebb %v as %s: exit %d: %s", args, u.Name, r.Code, r.Stderr)
	}
	return r
}

// LoopbackDNS makes a test daemon's config ask DNS only on loopback: a
// config without a [dns] section gets one whose resolver is a closed
// loopback port, so every lookup fails at once and temporarily (mail to
// other domains waits) and no test ever asks the system's resolver. Tests
// that need answers start internal/dnstest and set [dns] themselves.
func LoopbackDNS(t testing.TB, conf string) {
	t.Helper()
	b, err := os.ReadFile(conf)
	if err != nil || bytes.Contains(b, []byte("[dns]")) {
		return
	}
	b = append(b, "\n[dns]\n# harness.LoopbackDNS: no lookup leaves loopback\nresolver = \"127.0.0.1:1\"\ntimeout = \"1s\"\n"...)
	if err := os.WriteFile(conf, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
