package policy

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// AuthLimits are the settings of AuthGuard (submission.auth_*).
type AuthLimits struct {
	// FreeFailures are answered without delay; later ones wait Delay ×
	// (failures − FreeFailures), at most MaxDelay.
	FreeFailures int
	Delay        time.Duration
	MaxDelay     time.Duration
	// MaxPerIP failures refuse the IP; MaxPerAccount failures refuse the
	// account, but only to IPs that have failed for it themselves, so a
	// guesser elsewhere cannot lock its owner out.
	MaxPerIP      int
	MaxPerAccount int
	// Window is how long a failure counts.
	Window time.Duration
}

// AuthGuard counts failed logins per client IP (per /64 for IPv6) and per account, and says
// how long to wait before answering one and when to refuse to try at all.
// It is the brute-force brake of AUTH: a guesser is slowed, then refused,
// and the log line names its IP and the account it tried.
type AuthGuard struct {
	limits AuthLimits
	now    func() time.Time

	mu        sync.Mutex
	byIP      map[string][]time.Time
	byAccount map[string][]time.Time
	// pairs remembers which IPs failed for which account.
	pairs map[string][]time.Time
}

// NewAuthGuard makes a guard.
func NewAuthGuard(l AuthLimits) *AuthGuard {
	if l.MaxDelay == 0 {
		l.MaxDelay = 30 * time.Second
	}
	return &AuthGuard{limits: l, now: time.Now, byIP: map[string][]time.Time{},
		byAccount: map[string][]time.Time{}, pairs: map[string][]time.Time{}}
}

// Verdict is what AuthGuard says about one login attempt.
type Verdict struct {
	// Refused: do not check the password; answer 454 4.7.0.
	Refused bool
	// Why names the limit that refused or slowed ("ip", "account").
	Why string
	// Failures are the recent failures of the IP and of the account.
	IPFailures, AccountFailures int
	// Until is when the refusal ends (the oldest counted failure ages out).
	Until time.Time
}

func accountKey(a string) string { return strings.ToLower(strings.TrimSpace(a)) }

// sourceKey is the unit failures are counted by: the IPv4 address, or the
// IPv6 /64, since one host (one customer of a provider, RFC 6177) commonly
// has a whole /64 and a guesser could take a new address for every try.
func sourceKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

// recent drops the failures older than the window and returns the rest.
func (g *AuthGuard) recent(m map[string][]time.Time, k string, now time.Time) []time.Time {
	ts := m[k]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= g.limits.Window {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(m, k)
		return nil
	}
	m[k] = ts
	return ts
}

// Check is asked before a login is verified. account may be "" when the
// mechanism has not said it yet.
func (g *AuthGuard) Check(ip, account string) Verdict {
	ip = sourceKey(ip)
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	ipF := g.recent(g.byIP, ip, now)
	v := Verdict{IPFailures: len(ipF)}
	if len(ipF) >= g.limits.MaxPerIP {
		v.Refused, v.Why, v.Until = true, "ip", ipF[len(ipF)-g.limits.MaxPerIP].Add(g.limits.Window)
		return v
	}
	if account == "" {
		return v
	}
	k := accountKey(account)
	accF := g.recent(g.byAccount, k, now)
	v.AccountFailures = len(accF)
	pair := g.recent(g.pairs, ip+" "+k, now)
	if len(accF) >= g.limits.MaxPerAccount && len(pair) > 0 {
		v.Refused, v.Why, v.Until = true, "account", accF[len(accF)-g.limits.MaxPerAccount].Add(g.limits.Window)
	}
	return v
}

// Delay is how long to wait before answering a failed login, given the
// failures counted so far (this one included).
func (g *AuthGuard) Delay(v Verdict) time.Duration {
	n := v.IPFailures
	if v.AccountFailures > n {
		n = v.AccountFailures
	}
	extra := n - g.limits.FreeFailures
	if extra <= 0 || g.limits.Delay <= 0 {
		return 0
	}
	d := time.Duration(extra) * g.limits.Delay
	if d > g.limits.MaxDelay {
		d = g.limits.MaxDelay
	}
	return d
}

// Failed records a failed login and returns the counts with it included.
func (g *AuthGuard) Failed(ip, account string) Verdict {
	now := g.now()
	src := sourceKey(ip)
	g.mu.Lock()
	g.byIP[src] = append(g.recent(g.byIP, src, now), now)
	if account != "" {
		k := accountKey(account)
		g.byAccount[k] = append(g.recent(g.byAccount, k, now), now)
		g.pairs[src+" "+k] = append(g.recent(g.pairs, src+" "+k, now), now)
	}
	g.mu.Unlock()
	v := g.Check(ip, account)
	return v
}

// Succeeded forgets the failures of this IP for this account: its owner got
// in. The account's count from other IPs stays.
func (g *AuthGuard) Succeeded(ip, account string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.pairs, sourceKey(ip)+" "+accountKey(account))
}

// Sweep drops expired entries; call it now and then so that a scan from
// many addresses does not grow the maps forever.
func (g *AuthGuard) Sweep() {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range []map[string][]time.Time{g.byIP, g.byAccount, g.pairs} {
		for k := range m {
			g.recent(m, k, now)
		}
	}
}

// Rate counts events per key over a sliding hour (messages per IP or per
// account). A limit of 0 means no limit.
type Rate struct {
	Limit  int
	Window time.Duration
	now    func() time.Time

	mu     sync.Mutex
	events map[string][]time.Time
}

// NewRate makes a limiter for limit events per window.
func NewRate(limit int, window time.Duration) *Rate {
	return &Rate{Limit: limit, Window: window, now: time.Now, events: map[string][]time.Time{}}
}

// Allow records one event for key, or reports false (recording nothing)
// when the key is at its limit.
func (r *Rate) Allow(key string) bool {
	if r == nil || r.Limit <= 0 {
		return true
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := r.events[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= r.Window {
		i++
	}
	ts = ts[i:]
	if len(ts) >= r.Limit {
		r.events[key] = ts
		return false
	}
	r.events[key] = append(ts, now)
	return true
}
