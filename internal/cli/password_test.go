package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: the side a user types into, and the side
// a program reads as its terminal.
func openPTY(t *testing.T) (user, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// lockedBuffer is the prompts' stream, read while ReadPassword writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestPasswordAtATerminalIsNotEchoedAndAskedTwice(t *testing.T) {
	for _, tc := range []struct {
		lines   []string
		pw, err string
	}{
		{[]string{"s3cret", "s3cret"}, "s3cret", ""},
		{[]string{"s3cret", "other"}, "", "the two passwords differ"},
		{[]string{"", ""}, "", "empty password"},
	} {
		user, tty := openPTY(t)
		before, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		prompts := &lockedBuffer{}
		type result struct {
			pw  string
			err error
		}
		done := make(chan result, 1)
		go func() {
			c := newCall(&Env{Ctx: context.Background(), Stdin: tty, Stderr: prompts}, &Command{}, "ebb user add", nil)
			pw, err := c.ReadPassword("password: ", true)
			done <- result{pw, err}
		}()
		// Type each line once its prompt is out and echo is off, as a
		// person would.
		for i, prompt := range []string{"password: ", "again: "} {
			deadline := time.Now().Add(30 * time.Second)
			for !strings.Contains(prompts.String(), prompt) || echoOn(t, tty) {
				if time.Now().After(deadline) {
					t.Fatalf("no prompt %q with echo off; prompts so far %q", prompt, prompts.String())
				}
				runtime.Gosched()
			}
			user.WriteString(tc.lines[i] + "\n")
		}
		r := <-done
		if r.pw != tc.pw || (r.err == nil) != (tc.err == "") || (r.err != nil && r.err.Error() != tc.err) {
			t.Errorf("typed %q: %q, %v; want %q, %q", tc.lines, r.pw, r.err, tc.pw, tc.err)
		}
		if want := "password: \nagain: \n"; prompts.String() != want {
			t.Errorf("typed %q: prompts %q, want %q", tc.lines, prompts.String(), want)
		}
		// Nothing typed came back on the terminal: echo was off.
		tty.Write([]byte("END\n"))
		user.SetReadDeadline(time.Now().Add(30 * time.Second))
		var echoed bytes.Buffer
		buf := make([]byte, 256)
		for !strings.Contains(echoed.String(), "END") {
			n, err := user.Read(buf)
			if err != nil {
				t.Fatalf("reading the terminal: %v (so far %q)", err, echoed.String())
			}
			echoed.Write(buf[:n])
		}
		if tc.lines[0] != "" && strings.Contains(echoed.String(), tc.lines[0]) {
			t.Errorf("the password was echoed: %q", echoed.String())
		}
		after, _ := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		if after.Lflag != before.Lflag {
			t.Errorf("the terminal was left changed: lflag %#x, was %#x", after.Lflag, before.Lflag)
		}
	}
}

func echoOn(t *testing.T, tty *os.File) bool {
	st, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return st.Lflag&unix.ECHO != 0
}
