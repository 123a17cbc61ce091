package scan

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// dial connects to addr: an absolute path is a Unix socket, anything else
// host:port over TCP. The connection's deadline is ctx's, so that a scanner
// that accepts and never answers costs at most its timeout.
func dial(ctx context.Context, addr string) (net.Conn, error) {
	network := "tcp"
	if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("%w to %s: %w", errDial, addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	return c, nil
}

// withTimeout bounds ctx by d (0: no bound of its own).
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// closeWriter is a connection that can half-close (TCP and Unix sockets).
type closeWriter interface{ CloseWrite() error }
