package scan

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/servetest"
)

// What each client makes of a scanner that is stopped, accepts and never
// answers, or closes mid-reply: a failure with its cause, never a verdict.
// (The real scanners cannot be made to hang or cut a reply on demand; the
// integration tests in test/ run the real ones.)
func TestScannerFaults(t *testing.T) {
	stopped := func() string { // a port nothing listens on, and no other test is handed
		return fmt.Sprintf("127.0.0.1:%d", servetest.FreePort(t))
	}
	// hangs: reads all it is sent and never answers, until the client
	// gives up and hangs up (or, for a client that half-closes after its
	// request, until the test ends)
	hang := serveFake(t, func(c net.Conn) {
		c.SetReadDeadline(time.Time{})
		io.Copy(io.Discard, c)
		<-t.Context().Done()
	})
	cut := func(reply string) string {
		return serveFake(t, func(c net.Conn) { drain(c); c.Write([]byte(reply)) })
	}
	clients := []struct {
		name     string
		make     func(addr string) Scanner
		cutReply string
	}{
		{"clamd", func(a string) Scanner { return &Clamd{Addr: a, Timeout: 300 * time.Millisecond} }, "stream: Eicar-Te"},
		{"spamd", func(a string) Scanner { return &Spamd{Addr: a, Timeout: 300 * time.Millisecond} }, "SPAMD/1.1 0 EX_OK\r\nContent-length: 27\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTU"},
		{"rspamd", func(a string) Scanner { return NewRspamd(a, 300*time.Millisecond, "") }, "HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n{\"score\":15.0,\"act"},
		{"milter", func(a string) Scanner { m, _ := NewMilter("inet:"+a, 300*time.Millisecond, "h"); return m }, "\x00\x00\x00\x0dO\x00\x00"},
	}
	msg := &Message{Body: "Subject: x\r\n\r\nhello\r\n", From: "a@example.org", Rcpts: []string{"b@example.test"}}
	for _, c := range clients {
		for _, tc := range []struct {
			fault, addr, cause string
		}{
			{"stopped", stopped(), CauseDown},
			{"never answers", hang, CauseTimeout},
			{"closes mid-reply", cut(c.cutReply), CauseProtocol},
		} {
			t.Run(c.name+"/"+tc.fault, func(t *testing.T) {
				start := time.Now()
				r := c.make(tc.addr).Scan(context.Background(), msg)
				if r.Status != Failed || r.Cause != tc.cause {
					t.Errorf("status %s cause %q (%v), want failed %q", r.Status, r.Cause, r.Err, tc.cause)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("took %s with a 300ms timeout", d)
				}
			})
		}
	}
}

func drain(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	b := make([]byte, 1<<16)
	for {
		if _, err := c.Read(b); err != nil {
			return
		}
	}
}

func serveFake(t *testing.T, serve func(net.Conn)) string {
	return servetest.Serve(t, "127.0.0.1:0", serve).String()
}
