package smtpd

import (
	"bytes"
	"net"
	"sync"
	"time"
)

// BoundedListener wraps the sockets of a listener so that a slow client
// (slowloris) cannot hold a connection slot past the timeouts:
//
//   - A read deadline counts from the end of the client's previous line,
//     not from its last byte: a client that trickles one byte at a time
//     must still finish each line within the command (or data) timeout.
//     (conn.Read moves the deadline before every read; this clamps it.)
//   - No session lasts longer than maxSession, whatever it does.
//
// Over TLS the line ends are not visible here (the bytes are encrypted),
// so once TLS starts (implicitTLS, or a TLS record where a command line
// would start, after STARTTLS) only the session bound holds: clamping on
// random 0x0A bytes in ciphertext would cut off clients that are busy.
func BoundedListener(l net.Listener, maxSession time.Duration, implicitTLS bool) net.Listener {
	return &boundedListener{Listener: l, maxSession: maxSession, tls: implicitTLS}
}

type boundedListener struct {
	net.Listener
	maxSession time.Duration
	tls        bool
}

func (l *boundedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	b := &boundedConn{Conn: c, lineEnd: now, tls: l.tls, atLineStart: true}
	if l.maxSession > 0 {
		b.end = now.Add(l.maxSession)
	}
	return b, nil
}

type boundedConn struct {
	net.Conn
	mu      sync.Mutex
	lineEnd time.Time // when the last line from the client ended
	end     time.Time // the session's hard end (zero: none)
	// tls is set once the bytes are TLS records; atLineStart tells where
	// a TLS handshake record (0x16) after STARTTLS would begin.
	tls         bool
	atLineStart bool
}

func (c *boundedConn) clamp(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.IsZero() && !c.tls {
		if d := time.Until(t); d > 0 {
			if lim := c.lineEnd.Add(d); lim.Before(t) {
				t = lim
			}
		}
	}
	if !c.end.IsZero() && (t.IsZero() || c.end.Before(t)) {
		t = c.end
	}
	return t
}

func (c *boundedConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.clamp(t))
}

func (c *boundedConn) SetDeadline(t time.Time) error {
	return c.Conn.SetDeadline(c.clamp(t))
}

func (c *boundedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if !c.tls {
			if c.atLineStart && p[0] == 0x16 {
				// A TLS handshake record where a command would start:
				// STARTTLS has begun (RFC 5246 §6.2.1 content type 22).
				c.tls = true
			} else if bytes.IndexByte(p[:n], '\n') >= 0 {
				c.lineEnd = time.Now()
			}
			c.atLineStart = p[n-1] == '\n'
		}
		c.mu.Unlock()
	}
	return n, err
}
