package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SMTPSink is Postfix's smtp-sink (package postfix; man smtp-sink) on a
// loopback address: a remote SMTP server whose replies a test chooses per
// command (-r soft, -f hard reject with -b/-B as the reply text, -q/-Q
// disconnect, -w/-W delay). It runs as nobody and is stopped by pid.
type SMTPSink struct {
	Addr string
	cmd  *exec.Cmd
	out  string
}

// StartSMTPSink starts smtp-sink on addr (ip:port) with args before the
// address, and waits for its greeting.
func StartSMTPSink(t testing.TB, addr string, args ...string) *SMTPSink {
	t.Helper()
	Install(t, "postfix")
	RequireRoot(t)
	s := &SMTPSink{Addr: addr, out: filepath.Join(Dir(t), "smtp-sink.out")}
	f, err := os.Create(s.out)
	if err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"-u", "nobody"}, args...)
	argv = append(argv, addr, "256")
	s.cmd = exec.Command("/usr/sbin/smtp-sink", argv...)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	if err := s.cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.cmd.Wait(); f.Close(); close(done) }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	})
	if !strings.Contains(strings.Join(args, " "), "CONNECT") {
		WaitTCP(t, addr, "220", 10*time.Second)
	} else {
		WaitTCP(t, addr, "", 10*time.Second)
	}
	return s
}

// Output is what smtp-sink printed (counters with -c, errors).
func (s *SMTPSink) Output() string {
	b, _ := os.ReadFile(s.out)
	return string(b)
}
