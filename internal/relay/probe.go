package relay

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/ebbmail/ebb/internal/queue"
)

// ProbeSmarthost opens a session to relay.smarthost as a delivery would
// (the TLS level, AUTH with relay.credentials) and ends it with QUIT,
// for ebb doctor. It says what it found: host[ip], the TLS session and
// whether the login was accepted. The error is a *diag.Error.
func (r *Relay) ProbeSmarthost(ctx context.Context) (string, error) {
	if r.set.Smarthost == "" {
		return "", errors.New("relay.smarthost is not set")
	}
	host, _, _ := net.SplitHostPort(r.set.Smarthost)
	a := &attempt{
		m:   &queue.Message{ID: "doctor"},
		rc:  &queue.Recipient{Address: "postmaster@" + host},
		hop: hop{Smarthost: r.set.Smarthost, Implicit: r.router.implicit, Domain: host, Setting: "relay.smarthost"},
	}
	a.level, a.setting = r.set.TLS, "relay.tls"
	c, err := r.connect(ctx, a)
	if err != nil {
		return "", r.connFailure(a, newDestination("doctor", "doctor", 1), err, false)
	}
	defer c.quit()
	s := fmt.Sprintf("%s answered over %s", c.name(), c.tlsSummary())
	if c.tls == nil {
		s = fmt.Sprintf("%s answered without TLS", c.name())
	}
	if r.set.Credentials != "" {
		s += ", login accepted"
	}
	return s, nil
}
