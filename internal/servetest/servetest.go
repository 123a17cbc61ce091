// Package servetest stands in for the outside world in tests: a TCP
// server on loopback whose every connection goes to the test's function
// (a scanner that hangs or answers garbage, an SMTP server that pauses in
// the middle of the data, a fake IMAP or POP3 server), a CA of the test's
// own for the certificates of such servers, and a clock the test moves.
// Only the loopback address the test names is ever bound.
package servetest

import (
	"net"
	"testing"
)

// Serve listens on addr (a loopback address, port 0 for any) until the
// test ends and hands every connection to serve. It returns the address
// it listens on.
func Serve(t testing.TB, addr string, serve func(net.Conn)) *net.TCPAddr {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	Accept(t, l, serve)
	return l.Addr().(*net.TCPAddr)
}

// Accept hands every connection l accepts to serve until the test ends,
// and then closes l (a listener the test made itself: TLS, a fixed
// address).
func Accept(t testing.TB, l net.Listener, serve func(net.Conn)) {
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); serve(c) }()
		}
	}()
}
