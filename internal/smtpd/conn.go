package smtpd

import (
	"crypto/rand"
	"encoding/base32"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// conn is one accepted TCP connection: the connection id that every log
// line about it bears, the listener it came in on, the client IP, and its
// slot under the connection limits.
type conn struct {
	net.Conn
	id       string
	ip       string
	listener *listener
	opened   time.Time

	// busy is set while a transaction's DATA is being received and spooled
	// and its reply not yet sent; a graceful shutdown waits for it and
	// closes idle connections.
	busy atomic.Bool
	// messages counts the messages accepted on this connection.
	messages atomic.Int64

	closeOnce sync.Once
}

func newConnID() string {
	var b [5]byte
	rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// release gives the connection's slot back, once, whatever ended it.
func (c *conn) release() {
	c.closeOnce.Do(func() { c.listener.srv.release(c) })
}

// replied counts every reply for the metrics. A 221 or 421 ends the
// connection: its slot is released before the client can read the reply,
// so that a client that opens its next connection at once is not counted
// twice.
func (c *conn) replied(code int) {
	c.listener.srv.metrics.Reply(code)
	if code == 221 || code == 421 {
		c.release()
	}
}

// clientIP is the IP part of a remote address, the unit of the per-client
// connection limit.
func clientIP(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
