package smtpd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// pipeListener hands out the server ends of in-memory connections.
type pipeListener struct {
	ch     chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (p *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-p.ch:
		return c, nil
	case <-p.closed:
		return nil, net.ErrClosed
	}
}

func (p *pipeListener) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

func (p *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func (p *pipeListener) dial() net.Conn {
	client, server := net.Pipe()
	p.ch <- &tcpAddrConn{server}
	return client
}

// tcpAddrConn gives a pipe a TCP remote address, as the limits expect.
type tcpAddrConn struct{ net.Conn }

func (c *tcpAddrConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}

var replyLine = regexp.MustCompile(`^[2-5][0-9][0-9][ -]`)

// FuzzSession feeds arbitrary command streams to a session: every line we
// write back must be a well-formed reply, and nothing may panic (the
// engine turns a panic into "421 4.3.0 ... Local error").
func FuzzSession(f *testing.F) {
	f.Add("EHLO a\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n")
	f.Add("HELO a\r\nMAIL FROM:<>\r\nRCPT TO:<alice@EXAMPLE.TEST.>\r\nRCPT TO:<x@example.org>\r\nDATA\r\n..\r\n.\r\n")
	f.Add("EHLO a\r\nMAIL FROM:<s@example.org> SIZE=99999999999999999999 BODY=8BITMIME SMTPUTF8\r\n")
	f.Add("EHLO a\r\nMAIL FROM:<\"a b\"@example.org>\r\nRCPT TO:<@example.test:alice@example.org>\r\nRCPT TO:<alice%example.org@example.test>\r\n")
	f.Add("EHLO a\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice@example.test>\r\nBDAT 5 LAST\r\nhello")
	f.Add("EHLO a\r\nSTARTTLS\r\nAUTH PLAIN AGFsaWNlAHg=\r\nRSET\r\nNOOP\r\nVRFY alice\r\nEXPN x\r\nHELP\r\n")
	f.Add("\r\n\x00\xff\r\nMAIL\r\nRCPT\r\nDATA\r\nEHLO\r\nEHLO " + strings.Repeat("a", 3000) + "\r\n")
	f.Add("EHLO a\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n" + strings.Repeat("x", 12000) + "\r\n.\r\n")
	f.Fuzz(func(t *testing.T, input string) {
		sp := &fileSpool{dir: t.TempDir()} // a fresh spool per input
		pl := newPipeListener()
		srv, err := New(Config{
			Options: Options{Hostname: "mx.example.test", MaxMessageBytes: 10000, MaxRecipients: 3,
				MaxConnections: 10, MaxPerIP: 10, CommandTimeout: 300 * time.Millisecond, DataTimeout: 300 * time.Millisecond},
			Spool:     sp,
			Listeners: []Listener{{Kind: Inbound, Net: pl, Policy: InboundPolicy{Directory: mapDirectory{}}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Bind(); err != nil {
			t.Fatal(err)
		}
		go srv.Serve()
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			srv.Shutdown(ctx)
		}()
		c := pl.dial()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		go func() {
			io.WriteString(c, input)
			io.WriteString(c, "\r\n.\r\nQUIT\r\n")
		}()
		readReplies(t, c, input)
		c.Close()
	})
}

// readReplies reads what the server writes to c until it closes: every
// line must be a well-formed reply and none the 421 of a panic, and the
// server must not hang on what it was sent.
func readReplies(t *testing.T, c net.Conn, input string) {
	t.Helper()
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if line != "" && !replyLine.MatchString(line) {
			t.Fatalf("malformed reply line %q for input %q", line, input)
		}
		if strings.HasPrefix(line, "421 4.3.0") {
			t.Fatalf("panic in the server for input %q", input)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server hung for input %q", input)
			}
			return
		}
	}
}
