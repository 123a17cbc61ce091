package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ebbmail/ebb/internal/metrics"
	"github.com/ebbmail/ebb/internal/queue"
)

// Options are the limits and names a running server can change on SIGHUP
// (SetOptions); a new connection takes them as they are when it is
// accepted. The listen addresses are fixed when a listener starts;
// changing those needs a restart.
type Options struct {
	// Hostname is our name in the greeting and the Received header.
	Hostname        string
	MaxMessageBytes int64
	MaxRecipients   int
	MaxConnections  int
	MaxPerIP        int
	// Reserved of the MaxConnections slots are kept for clients in
	// Trusted (local submission), so that a flood of idle strangers
	// cannot lock them out.
	Reserved       int
	Trusted        []netip.Prefix
	CommandTimeout time.Duration
	DataTimeout    time.Duration
}

// Config is what New needs.
type Config struct {
	Options   Options
	Listeners []Listener
	Spool     queue.Receiver // the queue's hand-off (spool.go)
	// TLS is the certificate for STARTTLS (and implicit TLS listeners that
	// have none of their own). Nil: no STARTTLS.
	TLS     *Certificates
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	// OnRefusal, when set, is told of every refusal at MAIL, RCPT and
	// DATA with its reference id and reason (refusal.go) — within the
	// journal's bound: the first of each shared ref, then its follow-up
	// (flood.go).
	OnRefusal RefusalObserver
	// Postmaster is the address RCPT TO:<Postmaster> stands for (RFC 5321
	// §4.1.1.3: the postmaster of this host, which a server must accept,
	// §4.5.1); the policy then decides it like any other. Nil, or "":
	// postmaster@ Options.Hostname.
	Postmaster func(ctx context.Context) (string, error)
	// Now is the clock of the journal's bound on refusals (flood.go);
	// nil: time.Now. Tests move it.
	Now func() time.Time
}

// Server is ebb's SMTP service: every listener of every kind, their
// connection limits and their shared spool.
type Server struct {
	o       atomic.Pointer[Options]
	spool   queue.Receiver
	pm      func(ctx context.Context) (string, error)
	tls     *Certificates
	log     *slog.Logger
	metrics *metrics.Metrics
	// onRefusal is Config.OnRefusal.
	onRefusal RefusalObserver
	// bound shares refs among refusals of one kind from one source
	// (flood.go); sweepStop ends its sweeper (Shutdown).
	bound     *refusalBound
	sweepStop chan struct{}
	sweepOnce sync.Once

	// ctx is cancelled when a shutdown gives up waiting: spooling in
	// progress then stops (and its client gets no 250).
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	closing bool
	total   int
	perIP   map[string]int
	// freed is closed (and replaced) whenever a slot is released, to wake
	// connections waiting in admit.
	freed     chan struct{}
	conns     map[*conn]struct{}
	listeners []*listener
	wg        sync.WaitGroup
}

// New makes a server; Bind opens its sockets and Serve runs it.
func New(cfg Config) (*Server, error) {
	if cfg.Spool == nil {
		return nil, errors.New("smtpd: no spool")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{spool: cfg.Spool, pm: cfg.Postmaster, tls: cfg.TLS, log: log, metrics: cfg.Metrics, onRefusal: cfg.OnRefusal,
		perIP: map[string]int{}, conns: map[*conn]struct{}{}, freed: make(chan struct{}),
		bound: newRefusalBound(cfg.Now), sweepStop: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	o := cfg.Options
	s.o.Store(&o)
	for _, l := range cfg.Listeners {
		if l.Policy == nil {
			return nil, fmt.Errorf("smtpd: listener %s (%s) has no policy", l.Addr, l.Kind)
		}
		if l.ImplicitTLS && l.TLS == nil && cfg.TLS == nil {
			return nil, fmt.Errorf("smtpd: listener %s (%s) speaks implicit TLS but has no certificate", l.Addr, l.Kind)
		}
		s.listeners = append(s.listeners, &listener{Listener: l, srv: s})
	}
	return s, nil
}

func (s *Server) opts() *Options { return s.o.Load() }

func (s *Server) hostname() string { return s.opts().Hostname }

// postmaster is the address of RCPT TO:<Postmaster> (Config.Postmaster).
func (s *Server) postmaster(ctx context.Context) (string, error) {
	if s.pm != nil {
		a, err := s.pm(ctx)
		if err != nil || a != "" {
			return a, err
		}
	}
	return "postmaster@" + s.hostname(), nil
}

// SetOptions replaces the limits and names (SIGHUP). Connections already
// open keep their limits and timeouts; the connection limits apply at
// once.
func (s *Server) SetOptions(o Options) { s.o.Store(&o) }

// Bind opens every listening socket. ebb serve calls it before dropping
// root privileges, so that ports below 1024 work.
func (s *Server) Bind() error {
	for _, l := range s.listeners {
		if l.Listener.Net != nil {
			l.net = l.Listener.Net
			continue
		}
		nl, err := net.Listen("tcp", l.Listener.Addr)
		if err != nil {
			s.unbind()
			return fmt.Errorf("listen on %s for %s SMTP: %w", l.Listener.Addr, l.Kind, err)
		}
		l.net = nl
	}
	return nil
}

func (s *Server) unbind() {
	for _, l := range s.listeners {
		if l.net != nil {
			l.net.Close()
			l.net = nil
		}
	}
}

// Addrs are the bound addresses, in the order of the listeners.
func (s *Server) Addrs() []net.Addr {
	var a []net.Addr
	for _, l := range s.listeners {
		if l.net != nil {
			a = append(a, l.net.Addr())
		}
	}
	return a
}

// Serve runs every bound listener until Shutdown. It returns the first
// error of a listener that failed for any other reason.
func (s *Server) Serve() error {
	errc := make(chan error, len(s.listeners))
	for _, l := range s.listeners {
		if l.net == nil {
			return fmt.Errorf("smtpd: listener %s not bound", l.Listener.Addr)
		}
		tlsOn := s.tlsConfig(l.TLS) != nil && !l.NoSTARTTLS
		s.log.Info("smtp listening", "listener", string(l.Kind), "addr", l.net.Addr().String(),
			"starttls", tlsOn && !l.ImplicitTLS, "implicit_tls", l.ImplicitTLS)
		go func(l *listener) {
			err := l.serve()
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				err = nil
			}
			errc <- err
		}(l)
	}
	go s.sweepRefusals(s.sweepStop)
	var first error
	for range s.listeners {
		if err := <-errc; err != nil && first == nil {
			first = err
			s.log.Error("smtp listener failed", "err", err)
		}
	}
	return first
}

// admitGrace is how long a connection over a limit waits for a slot to be
// released before it is refused. A client that closed its connection (or
// got its 221) may open the next one before our side has seen the close;
// without the wait that client is refused by its own past (smtp-source
// with 19 sessions at a limit of 20).
const admitGrace = 500 * time.Millisecond

// admit counts a new connection from ip against the limits, waiting up to
// admitGrace for a slot. It returns the reason for refusing it, or "".
func (s *Server) admit(ip string) string {
	deadline := time.Now().Add(admitGrace)
	for {
		reason, freed := s.tryAdmit(ip)
		if reason == "" || reason == "shutdown" {
			return reason
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return reason
		}
		t := time.NewTimer(wait)
		select {
		case <-freed:
		case <-t.C:
		}
		t.Stop()
	}
}

// tryAdmit takes a slot for ip, or says why not and returns the channel
// closed at the next release.
func (s *Server) tryAdmit(ip string) (string, <-chan struct{}) {
	o := s.opts()
	limit := o.MaxConnections
	if limit > 0 && o.Reserved > 0 && !trusted(o.Trusted, ip) {
		// The last Reserved slots are for local submission.
		limit = max(1, limit-o.Reserved)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return "shutdown", nil
	case limit > 0 && s.total >= limit:
		if limit < o.MaxConnections {
			return "reserve", s.freed // only the slots kept for trusted networks are left
		}
		return "total", s.freed
	case o.MaxPerIP > 0 && s.perIP[source(ip)] >= o.MaxPerIP:
		return "per_ip", s.freed
	}
	s.total++
	s.perIP[source(ip)]++
	// Counted for Shutdown here, under the lock that saw closing false,
	// so that its Wait cannot start between the two.
	s.wg.Add(1)
	return "", nil
}

func trusted(nets []netip.Prefix, ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

func (s *Server) track(c *conn) {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
}

// release is the end of an admitted connection.
func (s *Server) release(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.total--
	if k := source(c.ip); s.perIP[k] <= 1 {
		delete(s.perIP, k)
	} else {
		s.perIP[k]--
	}
	close(s.freed)
	s.freed = make(chan struct{})
	s.mu.Unlock()
	s.metrics.SessionClosed(string(c.listener.Kind))
	s.log.Info("smtp disconnect", "conn", c.id, "messages", c.messages.Load(),
		"duration", time.Since(c.opened).Round(time.Millisecond).String())
	s.wg.Done()
}

// Shutdown stops accepting, lets transactions whose DATA is being received
// finish (their clients get their 250), closes idle connections, and returns
// when all are gone. When ctx ends first, the rest are cut off: their
// clients got no 250, so they will send again; nothing accepted is lost.
func (s *Server) Shutdown(ctx context.Context) error {
	// The refusals whose ref was shared get their follow-up records
	// (flood.go) once no connection is left to be refused.
	defer s.flushRefusals()
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	for _, l := range s.listeners {
		if l.net != nil {
			l.net.Close()
		}
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeIdle(false)
		select {
		case <-done:
			return nil
		case <-tick.C:
		case <-ctx.Done():
			s.cancel()
			s.closeIdle(true)
			select {
			case <-done:
			case <-time.After(2 * time.Second):
			}
			return fmt.Errorf("smtp shutdown: cut off connections still busy: %w", ctx.Err())
		}
	}
}

// flushRefusals ends the bound's sweeper and writes the follow-ups of
// every shared ref.
func (s *Server) flushRefusals() {
	s.sweepOnce.Do(func() { close(s.sweepStop) })
	s.followUps(s.bound.expire(s.bound.now(), true))
}

// closeIdle ends the idle connections (all: every one, at once). An idle
// one is woken from its read (a deadline now): the engine then closes it
// with 421 4.3.2 and a ref (closing.go), as RFC 5321 §3.8 allows; the
// next tick wakes one that started a read since. all closes them without
// a word.
func (s *Server) closeIdle(all bool) {
	s.mu.Lock()
	var idle []*conn
	for c := range s.conns {
		if all || !c.busy.Load() {
			idle = append(idle, c)
		}
	}
	s.mu.Unlock()
	for _, c := range idle {
		if all {
			c.Conn.Close()
		} else {
			c.Conn.SetReadDeadline(time.Now())
		}
	}
}

// stopping says whether Shutdown has begun.
func (s *Server) stopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// tlsConfig is the TLS configuration for a listener: own certificate or the
// server's. Nil when there is no certificate.
func (s *Server) tlsConfig(own *Certificates) *tls.Config {
	c := own
	if c == nil {
		c = s.tls
	}
	if c == nil {
		return nil
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.get,
	}
}
