package smtpd

import (
	"crypto/rand"
	"encoding/base32"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// conn is one accepted TCP connection as go-smtp sees it. It carries what
// the session needs before and after STARTTLS (go-smtp wraps it in a
// *tls.Conn then, and makes a new Session): the connection id that every log
// line about it bears, the listener it came in on, and the client IP. It
// also enforces the command and data timeouts and counts replies for the
// metrics.
type conn struct {
	net.Conn
	id       string
	ip       string
	listener *listener
	opened   time.Time

	// inData is set while the message is being read: the data timeout
	// replaces the command timeout (RFC 5321 §4.5.3.2).
	inData atomic.Bool
	// busy is set while a transaction's DATA is being received and spooled;
	// a graceful shutdown waits for it and closes idle connections.
	busy atomic.Bool
	// messages counts the messages accepted on this connection.
	messages atomic.Int64

	// gs is this connection's go-smtp server and maxBytes its size limit
	// (smtp.max_message_size when the connection was accepted).
	gs       *smtp.Server
	maxBytes int64

	closeOnce sync.Once
	replies   replyCounter
}

func newConnID() string {
	var b [5]byte
	rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// Read sets the deadline for every read, so that a client that trickles
// bytes (slowloris) cannot hold a slot past the timeouts.
func (c *conn) Read(p []byte) (int, error) {
	o := c.listener.srv.opts()
	d := o.CommandTimeout
	if c.inData.Load() {
		d = o.DataTimeout
	} else if c.busy.Load() {
		// Reading the next command: the reply to DATA has been written.
		c.busy.Store(false)
	}
	if d > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(d))
	}
	return c.Conn.Read(p)
}

func (c *conn) Write(p []byte) (int, error) {
	if c.replies.scan(p, c.listener.srv.metrics) {
		// 221 or 421: go-smtp closes the connection after this reply. The
		// slot is released before the client can read it, so that a client
		// that opens its next connection at once is not counted twice.
		c.release()
	}
	return c.Conn.Write(p)
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

// replyCounter finds reply codes in what the server writes, so that every
// reply (also those go-smtp makes itself, such as 552 or 500) is counted.
// After STARTTLS the bytes are TLS records, which never start with a digit;
// from then on the session counts the replies it decides (see
// session.countReply).
type replyCounter struct {
	mu      sync.Mutex
	off     bool
	atStart bool
	head    []byte // the start of the current line, up to 4 bytes
	started bool
}

type replyMetrics interface{ Reply(code int) }

// scan counts the replies in p and reports whether one of them closes the
// connection (221, 421).
func (r *replyCounter) scan(p []byte, m replyMetrics) (closing bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.off {
		return false
	}
	if !r.started {
		r.started, r.atStart = true, true
	}
	for _, b := range p {
		if r.atStart {
			r.head = r.head[:0]
			r.atStart = false
			if b < '0' || b > '9' {
				// Not a reply: the connection switched to TLS.
				r.off = true
				return closing
			}
		}
		if len(r.head) < 4 {
			r.head = append(r.head, b)
			if len(r.head) == 4 && r.head[3] == ' ' {
				// The last line of a reply: "250 ..." (not "250-...").
				code := int(r.head[0]-'0')*100 + int(r.head[1]-'0')*10 + int(r.head[2]-'0')
				if m != nil {
					m.Reply(code)
				}
				closing = closing || code == 221 || code == 421
			}
		}
		if b == '\n' {
			r.atStart = true
		}
	}
	return closing
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
