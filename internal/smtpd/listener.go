package smtpd

import (
	"crypto/tls"
	"net"
	"time"
)

// Kind is what a listener is for. It names the listener in logs and metrics
// and in the Received header's protocol (RFC 3848).
type Kind string

const (
	// Inbound is mail from other servers for the hosted domains (port 25):
	// no AUTH, no relay.
	Inbound Kind = "inbound"
	// Submission is mail from users (port 587, STARTTLS then AUTH).
	Submission Kind = "submission"
	// SubmissionTLS is submission over implicit TLS (port 465, RFC 8314).
	SubmissionTLS Kind = "submissions"
)

// Listener describes one listening address and what it accepts.
//
// The inbound listener is Listener{Kind: Inbound, Addr: ..., Policy:
// InboundPolicy{...}}. Submission adds listeners of its own kinds with a
// Policy that knows the authenticated user, and an Auth that offers SASL
// mechanisms; nothing else in this package needs to change for it.
type Listener struct {
	Kind Kind
	Addr string
	// ImplicitTLS makes the listener speak TLS from the first byte (465).
	// It needs a certificate (Options.TLS).
	ImplicitTLS bool
	// Policy decides MAIL FROM and RCPT TO. Required.
	Policy Policy
	// Auth offers AUTH (nil: no AUTH on this listener). The engine offers
	// it only on TLS connections.
	Auth Authenticator
	// NoSTARTTLS turns STARTTLS off on this listener even when a
	// certificate is configured.
	NoSTARTTLS bool
	// TLS, when set, overrides Options.TLS for this listener (submission
	// may have its own certificate).
	TLS *Certificates
	// Net, when set, is the socket already bound for Addr (ebb serve binds
	// before it drops root privileges; tests bind port 0).
	Net net.Listener
}

// listener is a Listener bound to its socket.
type listener struct {
	Listener
	srv *Server
	net net.Listener
}

// serve accepts connections until the socket is closed.
func (l *listener) serve() error {
	for {
		c, err := l.net.Accept()
		if err != nil {
			return err
		}
		// Admission may wait a moment for a slot (admitGrace): never in
		// the accept loop.
		go l.admit(c)
	}
}

// admit enforces the connection limits: over them, the client gets a 421
// right away (RFC 5321 §3.8 allows 421 at the greeting). Admitted, the
// connection is served by the engine (proto.go) with a session of ours,
// under the options as they are now (a SIGHUP's apply to the next
// connection).
func (l *listener) admit(c net.Conn) {
	ip := clientIP(c.RemoteAddr())
	if reason := l.srv.admit(ip); reason != "" {
		l.srv.metrics.Refused(reason)
		l.refuseConn(c, ip, reason) // closing.go: with a ref, logged and journaled
		return
	}
	tc := &conn{Conn: c, id: newConnID(), ip: ip, listener: l, opened: time.Now()}
	defer tc.Close()
	l.srv.track(tc)
	l.srv.metrics.SessionOpened(string(l.Kind))
	l.srv.log.Info("smtp connect", "conn", tc.id, "listener", string(l.Kind), "remote", c.RemoteAddr().String())
	var nc net.Conn = tc
	if l.ImplicitTLS {
		cfg := l.srv.tlsConfig(l.TLS)
		if cfg == nil {
			return // New refuses this
		}
		nc = tls.Server(tc, cfg)
	}
	o := l.srv.opts()
	p := &Protocol{
		Hostname:        o.Hostname,
		MaxMessageBytes: o.MaxMessageBytes,
		MaxRecipients:   o.MaxRecipients,
		CommandTimeout:  o.CommandTimeout,
		DataTimeout:     o.DataTimeout,
		Replied:         tc.replied,
		Waiting:         func() { tc.busy.Store(false) },
	}
	if !l.NoSTARTTLS {
		p.TLS = l.srv.tlsConfig(l.TLS)
	}
	if err := ServeConn(nc, newSession(l, tc), p); err != nil {
		l.srv.log.Info("smtp connection error", "conn", tc.id, "err", err.Error())
	}
}
