package pickup

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A daemon that takes the connection and never answers: Mailq and Command
// end at their timeout with an error that says what timed out without
// naming the socket (their callers' sentences name it once).
func TestHungDaemonErrorsDoNotNameTheSocket(t *testing.T) {
	dir := t.TempDir()
	sock := SocketPath(dir, "")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	_, cerr := Command(context.Background(), dir, "", "FLUSH", 200*time.Millisecond)
	for name, err := range map[string]error{
		"Mailq":   Mailq(context.Background(), dir, "", io.Discard, 200*time.Millisecond),
		"Command": cerr,
	} {
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s with a hung daemon: %v, want a deadline error", name, err)
			continue
		}
		if s := err.Error(); strings.Contains(s, filepath.Base(sock)) || !strings.Contains(s, "reading its answer: i/o timeout") {
			t.Errorf("%s with a hung daemon says %q: want %q without the socket", name, s, "reading its answer: i/o timeout")
		}
	}
}
