package acme

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	xacme "golang.org/x/crypto/acme"
)

// Options configures a Manager (from the acme.* settings).
type Options struct {
	DirectoryURL string
	Email        string
	Dir          string        // acme.dir, {data_dir} expanded
	KeyType      string        // ecdsa or rsa
	RenewBefore  time.Duration // at most a third of the lifetime is used
	RetryMin     time.Duration
	RetryMax     time.Duration
	Timeout      time.Duration // one order
	Challenges   []string      // in order of preference
	HTTPClient   *http.Client  // trusts acme.ca_file besides the system's roots
	// Resolver checks that a name has an address before it is ordered
	// (the CA would refuse it, and count the failure against its limits).
	// Nil: no check.
	Resolver *net.Resolver
	// DNS01 sets and removes _acme-challenge TXT records (dns-01); nil
	// when dns-01 is not configured.
	DNS01 DNS01
	// KeepKey decides at a renewal whether to keep the current key rather
	// than move to the pre-made next one: yes when a published TLSA record
	// names the current key and none names the next (the rollover would
	// break DANE). Nil: always move to the next key.
	KeepKey func(ctx context.Context, names []string, current, next crypto.PublicKey) (keep bool, why string)
	// Issued is called (from Run's goroutine) after a new certificate for
	// the set whose first name is name is stored.
	Issued func(name string)
	Log    *slog.Logger
	Now    func() time.Time // tests move the clock
}

// DNS01 publishes the dns-01 TXT record (RFC 8555 §8.4).
type DNS01 interface {
	Present(ctx context.Context, name, value string) error
	CleanUp(ctx context.Context, name, value string) error
}

// Manager orders and renews certificates and serves them.
type Manager struct {
	o      Options
	store  Store
	client *xacme.Client
	log    *slog.Logger
	stats  *stats
	wake   chan struct{}

	mu     sync.Mutex
	certs  map[string]*entry // by the set's first name
	byName map[string]*entry // every name of every wanted set
	server string            // the first name of the server's set
	http01 map[string]string // token → key authorization
	alpn   map[string]*tls.Certificate
	reg    bool // the account is registered (this run)
	// retries counts RetryNow calls: an order that was running during
	// one does not keep its backoff (the admin's fix came after it began).
	retries uint64
}

// entry is one certificate: the names wanted on it, what is stored.
type entry struct {
	names  []string
	cert   *tls.Certificate
	state  *State
	wanted bool
}

// New loads (or makes) the account key and every stored certificate.
func New(o Options) (*Manager, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	m := &Manager{o: o, store: Store{Dir: o.Dir}, log: o.Log, stats: newStats(),
		wake: make(chan struct{}, 1), certs: map[string]*entry{}, byName: map[string]*entry{},
		http01: map[string]string{}, alpn: map[string]*tls.Certificate{}}
	if err := mkdir(o.Dir); err != nil {
		return nil, err
	}
	key, err := loadOrMakeKey(m.store.accountKeyPath(), "ecdsa")
	if err != nil {
		return nil, err
	}
	m.client = &xacme.Client{Key: key, DirectoryURL: o.DirectoryURL, HTTPClient: o.HTTPClient, UserAgent: "ebb"}
	states, err := ReadStates(o.Dir)
	if err != nil {
		return nil, err
	}
	for name, st := range states {
		e := &entry{names: st.Names, state: st}
		if c, err := m.store.loadPair(name); err == nil {
			e.cert = c
		} else if !errors.Is(err, os.ErrNotExist) {
			m.log.Warn("acme: a stored certificate does not load; it will be ordered again", "cert", m.store.CertFile(name), "err", err.Error())
		}
		m.certs[name] = e
	}
	return m, nil
}

// SetWanted says which certificates to keep: server is the server's set
// (server.hostname first, then acme.names); domains are the per-domain
// sets. Certificates no longer wanted stay on disk but are neither renewed
// nor served. It wakes Run.
func (m *Manager) SetWanted(server []string, domains [][]string) {
	m.mu.Lock()
	for _, e := range m.certs {
		e.wanted = false
	}
	m.byName = map[string]*entry{}
	m.server = ""
	for i, set := range append([][]string{server}, domains...) {
		if len(set) == 0 {
			continue
		}
		names := make([]string, len(set))
		for j, n := range set {
			names[j] = strings.ToLower(strings.TrimSuffix(n, "."))
		}
		if i == 0 {
			m.server = names[0]
		}
		e := m.certs[names[0]]
		if e == nil {
			e = &entry{state: &State{}}
			m.certs[names[0]] = e
		}
		e.names, e.wanted = names, true
		for _, n := range names {
			m.byName[n] = e
		}
	}
	m.mu.Unlock()
	m.Wake()
}

// Wake makes Run look at what is due now.
func (m *Manager) Wake() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// RetryNow forgets the backoff of failing certificates (SIGHUP, after the
// admin fixed DNS or a port) and wakes Run.
func (m *Manager) RetryNow() {
	m.mu.Lock()
	m.retries++
	for _, e := range m.certs {
		if e.state != nil {
			e.state.NextAttempt = time.Time{}
		}
	}
	m.mu.Unlock()
	m.Wake()
}

// Run orders what is missing and renews what is due, one order at a time,
// until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	for {
		next := m.runDue(ctx)
		var timer <-chan time.Time
		var t *time.Timer
		if !next.IsZero() {
			d := next.Sub(m.o.Now())
			if d < time.Second {
				d = time.Second
			}
			t = time.NewTimer(d)
			timer = t.C
		}
		select {
		case <-ctx.Done():
		case <-m.wake:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// runDue orders every due certificate and returns when the next one is due.
func (m *Manager) runDue(ctx context.Context) time.Time {
	// Each certificate is tried once per pass, even if it is still due
	// after (a CA that left out a name): the next pass is a timer away.
	tried := map[*entry]bool{}
	for ctx.Err() == nil {
		e := m.nextDue(tried)
		if e == nil {
			break
		}
		tried[e] = true
		m.obtain(ctx, e)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	for _, e := range m.certs {
		if !e.wanted {
			continue
		}
		t := m.dueAt(e)
		if tried[e] && !t.After(m.o.Now()) {
			t = m.o.Now().Add(m.backoff(1))
		}
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next
}

// nextDue is a wanted certificate due now, the server's first.
func (m *Manager) nextDue(tried map[*entry]bool) *entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.o.Now()
	due := func(e *entry) bool { return e != nil && e.wanted && !tried[e] && !m.dueAt(e).After(now) }
	if e := m.certs[m.server]; due(e) {
		return e
	}
	for _, e := range m.certs {
		if due(e) {
			return e
		}
	}
	return nil
}

// dueAt is when e should next be ordered: now when it has no certificate
// or the names changed, else its renewal time; never before the backoff
// of a failure ends.
func (m *Manager) dueAt(e *entry) time.Time {
	var at time.Time
	if e.cert != nil && sameNames(e.cert.Leaf.DNSNames, e.names) {
		at = m.renewAt(e.cert.Leaf.NotBefore, e.cert.Leaf.NotAfter)
	}
	if e.state != nil && e.state.Failures > 0 && e.state.NextAttempt.After(at) {
		at = e.state.NextAttempt
	}
	return at
}

// renewAt is acme.renew_before before the end, but never more than a
// third of the lifetime before it (Let's Encrypt's advice for 90-day
// certificates is 30 days; a 6-day certificate renews 2 days before).
func (m *Manager) renewAt(notBefore, notAfter time.Time) time.Time {
	before := m.o.RenewBefore
	if third := notAfter.Sub(notBefore) / 3; before <= 0 || before > third {
		before = third
	}
	return notAfter.Add(-before)
}

// backoff is the wait after the n-th failure in a row.
func (m *Manager) backoff(n int) time.Duration {
	d := m.o.RetryMin
	if d <= 0 {
		d = 10 * time.Minute
	}
	for i := 1; i < n && d < m.o.RetryMax; i++ {
		d *= 2
	}
	if m.o.RetryMax > 0 && d > m.o.RetryMax {
		d = m.o.RetryMax
	}
	return d
}

// Status is one wanted certificate, for the queue page, metrics and logs.
type Status struct {
	Name     string    // the set's first name
	Names    []string  // every name wanted on it
	NotAfter time.Time // zero: none yet
	RenewAt  time.Time
	State    State
}

// Statuses lists the wanted certificates, the server's first.
func (m *Manager) Statuses() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Status
	for name, e := range m.certs {
		if !e.wanted {
			continue
		}
		s := Status{Name: name, Names: e.names}
		if e.state != nil {
			s.State = *e.state
		}
		if e.cert != nil {
			s.NotAfter = e.cert.Leaf.NotAfter
			s.RenewAt = m.renewAt(e.cert.Leaf.NotBefore, e.cert.Leaf.NotAfter)
		}
		if name == m.server {
			out = append([]Status{s}, out...)
		} else {
			out = append(out, s)
		}
	}
	return out
}

// ServerCert is the server's certificate and key files, and whether a
// certificate is stored there yet.
func (m *Manager) ServerCert() (certFile, keyFile string, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.certs[m.server]
	return m.store.CertFile(m.server), m.store.KeyFile(m.server), e != nil && e.cert != nil
}

// Store is where the manager keeps its files.
func (m *Manager) Store() Store { return m.store }
