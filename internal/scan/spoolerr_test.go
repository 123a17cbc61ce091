package scan

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// A spool file that cannot be read is our trouble, told the same way by
// every scanner: failed, cause io, "cannot read the spool file", with the
// error that says which file and why.
func TestUnreadableSpoolFileIsOneCauseForEveryScanner(t *testing.T) {
	missing := &Message{Path: filepath.Join(t.TempDir(), "gone.q")}
	// clamd is asked only after its session is open: a listener that
	// takes the connection and reads whatever comes.
	clamd := serveFake(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	milter, err := NewMilter("inet:1@127.0.0.1", time.Second, "mx.example.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Scanner{
		&Clamd{Addr: clamd, Timeout: 5 * time.Second},
		&Spamd{Addr: "127.0.0.1:1", Timeout: time.Second},
		NewRspamd("127.0.0.1:1", time.Second, ""),
		milter,
	} {
		r := s.Scan(context.Background(), missing)
		if r.Status != Failed || r.Cause != CauseIO || r.Detail != "cannot read the spool file" || r.Err == nil {
			t.Errorf("%s: %+v", s.Name(), r)
		}
	}
}
