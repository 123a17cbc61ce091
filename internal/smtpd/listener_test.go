package smtpd

import (
	"net"
	"syscall"
	"testing"
)

// keepalive reports SO_KEEPALIVE on the connection l accepts from a dial.
func keepalive(t *testing.T, l net.Listener) int {
	t.Helper()
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ac, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	rc, err := ac.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return v
}

// An SMTP socket's connections have no TCP keepalive (every read has a
// deadline instead), where Go's default listener turns it on for each.
func TestListenAcceptsWithoutKeepalive(t *testing.T) {
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if v := keepalive(t, l); v != 0 {
		t.Fatalf("SO_KEEPALIVE %d on an accepted SMTP connection", v)
	}
	d, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if v := keepalive(t, d); v == 0 {
		t.Fatal("Go's default listener no longer turns keepalive on: this test shows nothing")
	}
}
