package harness

import (
	"fmt"
	"os/exec"
	"strconv"
	"testing"
)

// SMTPSource is a run of Postfix's smtp-source load generator (package
// postfix; services.md section 5). Each session opens a new connection per
// message unless Reuse is set (-d). smtp-source does not pipeline.
type SMTPSource struct {
	Addr     string // host:port
	Messages int    // -m
	Sessions int    // -s
	Size     int    // -l: body bytes
	From, To string // -f, -t
	Rcpts    int    // -r: recipients per message (numbered: 1to, 2to, ...)
	Reuse    bool   // -d
	Subject  string // -S
}

// Command is the smtp-source command line, for running it in the
// background (a crash test kills the server under it).
func (s SMTPSource) Command(t testing.TB) *exec.Cmd {
	t.Helper()
	Install(t, "postfix")
	args := []string{"-m", strconv.Itoa(max(s.Messages, 1)), "-s", strconv.Itoa(max(s.Sessions, 1)),
		"-l", strconv.Itoa(s.Size), "-f", s.From, "-t", s.To}
	if s.Rcpts > 1 {
		args = append(args, "-r", strconv.Itoa(s.Rcpts))
	}
	if s.Reuse {
		args = append(args, "-d")
	}
	if s.Subject != "" {
		args = append(args, "-S", s.Subject)
	}
	args = append(args, s.Addr)
	return exec.Command("/usr/sbin/smtp-source", args...)
}

// Run runs smtp-source to the end. smtp-source exits non-zero when the
// server refuses a command.
func (s SMTPSource) Run(t testing.TB) Result {
	t.Helper()
	return Run(t, s.Command(t), nil)
}

func (s SMTPSource) String() string {
	return fmt.Sprintf("smtp-source -m %d -s %d -l %d → %s", s.Messages, s.Sessions, s.Size, s.Addr)
}
