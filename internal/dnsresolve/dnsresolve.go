// Package dnsresolve makes the DNS resolvers ebb's parts share, from the
// dns.* settings: New is a plain *net.Resolver (relay, MTA-STS, doctor),
// so that libraries that take one or a LookupTXT function use it as they
// are; NewClient (client.go) asks the server directly, for the checks on
// incoming mail (SPF, DKIM, DMARC): it looks up any name an SPF macro
// builds and its errors name the server asked. Tests point either at a
// DNS server on loopback (internal/dnstest).
package dnsresolve

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/ebbmail/ebb/internal/config"
)

// New returns the resolver for cfg: the system's when dns.resolver is
// empty, else one that sends every query to that server (UDP, and TCP
// when the answer is truncated), each within dns.timeout.
func New(cfg *config.Config) *net.Resolver {
	return NewAt(cfg.DNS.Resolver, cfg.DNS.Timeout.Duration)
}

// NewAt is New with the server and timeout given directly.
func NewAt(server string, timeout time.Duration) *net.Resolver {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if server == "" {
		return &net.Resolver{PreferGo: true}
	}
	d := net.Dialer{Timeout: timeout}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			c, err := d.DialContext(ctx, network, server)
			if err != nil {
				return nil, err
			}
			b := &boundedConn{Conn: c, limit: time.Now().Add(timeout)}
			if pc, ok := c.(net.PacketConn); ok {
				// The Go resolver frames a query by whether its
				// connection is a PacketConn (UDP) or a stream (TCP).
				return &boundedPacketConn{boundedConn: b, pc: pc}, nil
			}
			return b, nil
		},
	}
}

// boundedConn keeps the Go resolver's own deadlines (from resolv.conf, 5 s
// by default) from outlasting dns.timeout.
type boundedConn struct {
	net.Conn
	limit time.Time
}

func (c *boundedConn) bound(t time.Time) time.Time {
	if t.IsZero() || t.After(c.limit) {
		return c.limit
	}
	return t
}

func (c *boundedConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.bound(t)) }
func (c *boundedConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.bound(t)) }
func (c *boundedConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.bound(t)) }

// IsNotFound reports whether err says the name or the record type does
// not exist (NXDOMAIN or an empty answer): a permanent answer, unlike a
// SERVFAIL or a timeout.
func IsNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// IsTemporary reports whether err is a failure to get an answer (SERVFAIL,
// timeout, refused, network): the lookup may succeed later.
func IsTemporary(err error) bool {
	if err == nil || IsNotFound(err) {
		return false
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.IsTemporary || de.IsTimeout || !de.IsNotFound
	}
	return true
}

type boundedPacketConn struct {
	*boundedConn
	pc net.PacketConn
}

func (c *boundedPacketConn) ReadFrom(p []byte) (int, net.Addr, error)  { return c.pc.ReadFrom(p) }
func (c *boundedPacketConn) WriteTo(p []byte, a net.Addr) (int, error) { return c.pc.WriteTo(p, a) }
