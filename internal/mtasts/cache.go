package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/safeio"
)

// Options configure a Cache.
type Options struct {
	// Resolver answers the _mta-sts TXT lookups and resolves the policy
	// hosts (dns.resolver).
	Resolver *net.Resolver
	// Dir keeps one JSON file per domain, so that policies survive a
	// restart (RFC 8461 §5.1). "" keeps them in memory only.
	Dir string
	// Timeout bounds one policy fetch (default 30s).
	Timeout time.Duration
	// RootCAs verify the policy hosts' certificates (nil: the system's).
	RootCAs *x509.CertPool
	// Port is the policy hosts' HTTPS port: 443 by RFC 8461 §3.3; tests
	// on loopback set another.
	Port int
	// Recheck is how long a domain's TXT answer is trusted before it is
	// asked again (default 5m): one lookup per domain per interval, not
	// one per message.
	Recheck time.Duration
	Log     *slog.Logger
	Now     func() time.Time
}

// Cache gives the MTA-STS policy of a recipient domain: the TXT id is
// checked (at most once per Recheck), the policy fetched when the id
// changed or the cached one expired (max_age), and a failed refresh keeps
// the cached policy until it expires (RFC 8461 §5.1). A policy is never
// dropped because its TXT record went away: that is what keeps an attacker
// who can remove DNS records from turning enforcement off.
type Cache struct {
	o      Options
	client *http.Client
	log    *slog.Logger

	mu      sync.Mutex
	domains map[string]*domainEntry

	// lookups counts the outcome of asking for a domain's policy
	// (Collector registers it): fetched, cached (kept: same id, or a
	// refresh that failed, or DNS trouble), none, unavailable (nothing
	// learned and nothing cached: mail goes on without MTA-STS).
	lookups *prometheus.CounterVec
}

// Collector is the cache's metric, for the daemon's registry.
func (c *Cache) Collector() prometheus.Collector { return c.lookups }

type domainEntry struct {
	mu      sync.Mutex // one lookup and fetch at a time per domain
	loaded  bool       // the disk copy was read
	pol     *Policy
	checked time.Time // when the TXT record was last asked
}

// NewCacheFromConfig is the Cache for the mta_sts settings.
func NewCacheFromConfig(cfg *config.Config, log *slog.Logger) (*Cache, error) {
	o := Options{
		Resolver: dnsresolve.New(cfg),
		Dir:      strings.ReplaceAll(cfg.MTASTS.CacheDir, "{data_dir}", cfg.Server.DataDir),
		Timeout:  cfg.MTASTS.Timeout.Duration,
		Port:     cfg.MTASTS.Port,
		Log:      log,
	}
	if cfg.MTASTS.CAFile != "" {
		pem, err := os.ReadFile(cfg.MTASTS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mta_sts.ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mta_sts.ca_file %s: no PEM certificate in it", cfg.MTASTS.CAFile)
		}
		o.RootCAs = pool
	}
	return NewCache(o), nil
}

// NewCache makes a Cache.
func NewCache(o Options) *Cache {
	if o.Resolver == nil {
		o.Resolver = &net.Resolver{PreferGo: true}
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Port == 0 {
		o.Port = 443
	}
	if o.Recheck <= 0 {
		o.Recheck = 5 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &Cache{o: o, log: o.Log, domains: map[string]*domainEntry{},
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_mtasts_policy_lookups_total",
			Help: "MTA-STS policy lookups that asked DNS, by result: fetched (a new policy), cached (the cached policy applies: same id, a failed refresh or DNS trouble), none (no policy), unavailable (nothing learned, nothing cached: delivery goes on without MTA-STS).",
		}, []string{"result"})}
	dialer := &net.Dialer{Timeout: o.Timeout, Resolver: o.Resolver}
	port := strconv.Itoa(o.Port)
	c.client = &http.Client{
		Timeout: o.Timeout,
		Transport: &http.Transport{
			Proxy: nil, // the policy host itself, never a proxy from the environment
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, _, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				return dialer.DialContext(ctx, network, net.JoinHostPort(host, port))
			},
			// RFC 8461 §3.3: a certificate valid for mta-sts.DOMAIN (the
			// URL's host is the server name checked).
			TLSClientConfig:       &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   o.Timeout,
			ResponseHeaderTimeout: o.Timeout,
			MaxIdleConns:          4,
			IdleConnTimeout:       30 * time.Second,
		},
		// RFC 8461 §3.3: "HTTP 3xx redirects MUST NOT be followed".
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

// Get returns domain's policy, or nil, nil when it has none. An error
// means the policy could not be learned (DNS trouble, a failed fetch) and
// nothing usable is cached: the caller delivers as without a policy (RFC
// 8461 §5.1) and says so.
func (c *Cache) Get(ctx context.Context, domain string) (*Policy, error) {
	domain, ok := policyDomain(domain)
	if !ok {
		return nil, nil // an address literal or no domain name: no policy applies
	}
	c.mu.Lock()
	e := c.domains[domain]
	if e == nil {
		if len(c.domains) >= maxDomains {
			c.shrinkLocked()
		}
		e = &domainEntry{}
		c.domains[domain] = e
	}
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := c.o.Now()
	if !e.loaded {
		e.loaded = true
		e.pol = c.load(domain)
	}
	// An expired policy applies no more (e.pol stays for the id comparison).
	cached := unexpired(e.pol, now)
	if !e.checked.IsZero() && now.Sub(e.checked) < c.o.Recheck {
		return cached, nil
	}
	e.checked = now

	txts, err := c.o.Resolver.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil && !dnsresolve.IsNotFound(err) {
		if cached != nil {
			c.log.Info("MTA-STS: TXT lookup failed; the cached policy applies", "domain", domain, "id", cached.ID, "err", err)
			c.lookups.WithLabelValues("cached").Inc()
			return cached, nil
		}
		e.checked = time.Time{} // ask again next time
		c.lookups.WithLabelValues("unavailable").Inc()
		return nil, fmt.Errorf("look up _mta-sts.%s TXT: %w", domain, err)
	}
	id, terr := ParseTXT(txts)
	if err != nil || terr != nil {
		if cached != nil {
			// RFC 8461 §5.1: a policy stays until max_age whatever DNS says.
			c.lookups.WithLabelValues("cached").Inc()
			return cached, nil
		}
		if terr != nil && len(txts) > 0 {
			c.log.Info("MTA-STS: no usable _mta-sts record; no policy", "domain", domain, "err", terr)
		}
		c.lookups.WithLabelValues("none").Inc()
		return nil, nil
	}
	if cached != nil && cached.ID == id {
		c.lookups.WithLabelValues("cached").Inc()
		return cached, nil
	}
	pol, err := c.fetch(ctx, domain)
	if err != nil {
		if cached != nil {
			c.log.Warn("MTA-STS: refreshing the policy failed; the cached one applies", "domain", domain,
				"cached_id", cached.ID, "new_id", id, "err", err)
			c.lookups.WithLabelValues("cached").Inc()
			return cached, nil
		}
		e.checked = time.Time{}
		c.lookups.WithLabelValues("unavailable").Inc()
		return nil, err
	}
	pol.Domain, pol.ID, pol.Fetched = domain, id, now.UTC()
	e.pol = pol
	c.store(pol)
	c.lookups.WithLabelValues("fetched").Inc()
	c.log.Info("MTA-STS: policy fetched", "domain", domain, "id", id, "mode", string(pol.Mode),
		"mx", strings.Join(pol.MX, ","), "max_age", pol.MaxAge.String())
	return pol, nil
}

// maxDomains bounds the domains kept in memory: past it, those without a
// policy are forgotten (asking again costs one TXT lookup; policies stay,
// and are on disk anyway).
const maxDomains = 20000

func (c *Cache) shrinkLocked() {
	for d, e := range c.domains {
		if e.mu.TryLock() {
			if e.pol == nil {
				delete(c.domains, d)
			}
			e.mu.Unlock()
		}
	}
}

// fetch gets https://mta-sts.DOMAIN/.well-known/mta-sts.txt (RFC 8461
// §3.3): 200 only, no redirects, text/plain, at most MaxPolicySize.
func (c *Cache) fetch(ctx context.Context, domain string) (*Policy, error) {
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, fmt.Errorf("fetch %s: %s, redirect to %q not followed (RFC 8461 §3.3)", url, resp.Status, resp.Header.Get("Location"))
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("fetch %s: %s", url, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, fmt.Errorf("fetch %s: Content-Type %q, want text/plain (RFC 8461 §3.2)", url, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	if len(body) > MaxPolicySize {
		return nil, fmt.Errorf("fetch %s: the policy is larger than %d bytes", url, MaxPolicySize)
	}
	pol, err := ParsePolicy(string(body))
	if err != nil {
		return nil, fmt.Errorf("policy from %s: %w", url, err)
	}
	return pol, nil
}

func (c *Cache) path(domain string) string {
	return filepath.Join(c.o.Dir, domain+".json")
}

// unexpired is p while it applies (until Fetched + MaxAge, RFC 8461
// §3.2), else nil.
func unexpired(p *Policy, now time.Time) *Policy {
	if p != nil && now.After(p.Fetched.Add(p.MaxAge)) {
		return nil
	}
	return p
}

// load reads the disk copy of a domain's policy (nil when none).
func (c *Cache) load(domain string) *Policy {
	if c.o.Dir == "" {
		return nil
	}
	b, err := os.ReadFile(c.path(domain))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			c.log.Warn("MTA-STS: cannot read the cached policy", "domain", domain, "path", c.path(domain), "err", err)
		}
		return nil
	}
	var p Policy
	if err := json.Unmarshal(b, &p); err != nil || p.Domain != domain || p.Mode == "" {
		c.log.Warn("MTA-STS: cached policy unreadable; fetching again", "domain", domain, "path", c.path(domain), "err", err)
		return nil
	}
	return &p
}

// store writes the policy's disk copy; a failure leaves it in memory and
// says so (the next start fetches it again).
func (c *Cache) store(p *Policy) {
	if c.o.Dir == "" {
		return
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return
	}
	// One err for both steps: a failed write is logged as a failed
	// directory is (a shadowed err once hid the write's failure).
	if err = os.MkdirAll(c.o.Dir, 0o750); err == nil {
		err = safeio.WriteFile(c.path(p.Domain), append(b, '\n'), 0o640)
	}
	if err != nil {
		c.log.Warn("MTA-STS: cannot keep the policy on disk; it is kept in memory until the restart",
			"domain", p.Domain, "dir", c.o.Dir, "setting", "mta_sts.cache_dir", "err", err)
	}
}
