package policy

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
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
	// MaxPerIP failures within Window refuse the source (an IPv4 address,
	// an IPv6 /64), whatever account it tries.
	MaxPerIP int
	// MaxPerAccount failures within Window, or MaxPerAccountDay within a
	// day (0: no daily budget), spend an account's budget: then logins
	// for it are refused from every source that is not familiar to it,
	// known account or not. Sources familiar to it (it logged in from
	// them within FamiliarFor) have a budget of their own, so a guesser
	// elsewhere cannot lock its owner out there.
	MaxPerAccount    int
	MaxPerAccountDay int
	// Window is how long a failure counts against a source and toward
	// MaxPerAccount.
	Window time.Duration
	// FamiliarFor is how long a source stays familiar to an account after
	// a login from it (0: no source is familiar).
	FamiliarFor time.Duration
}

// day is the period of AuthLimits.MaxPerAccountDay.
const day = 24 * time.Hour

// AuthGuard is the brute-force brake of AUTH. It counts failed logins per
// source (an IPv4 address, an IPv6 /64) and per account, and says how long
// to wait before answering a failure and when to refuse to check a
// password at all:
//
//   - a source that failed MaxPerIP times within the window is refused,
//     whatever account it tries;
//   - an account has a budget of failures across all sources: MaxPerAccount
//     within the window and MaxPerAccountDay within a day. A guesser that
//     takes a new address for every try (an IPv6 /64 holds 2^64 of them)
//     spends the budget, and then every source that is not familiar to the
//     account is refused for it, so the guesses it gets are bounded per day
//     and per account, not per address;
//   - sources the account logged in from (within FamiliarFor) are familiar:
//     their failures count in a budget of their own, so the owner still
//     gets in from where they got in before while a guesser elsewhere has
//     spent the other one;
//   - the same wrong password again for an account (a client still trying
//     an old password) counts against its source, not toward the account's
//     budget: it is no new guess.
//
// Accounts are counted by name whether they exist or not (and a refusal
// comes before the password check for both), so the answers say nothing
// about which accounts exist. The counts live in an AuthStore.
type AuthGuard struct {
	limits AuthLimits
	store  AuthStore
	now    func() time.Time
	// tagKey keys the tags of wrong passwords (an HMAC, never the
	// password): random per guard, or the store's (SharedAuthStore),
	// asked for at the first failure.
	keyMu  sync.Mutex
	tagKey []byte
	// Canonical names the account a login is for (the directory's lookup
	// key: lower case, a domain alias as its target), so that spellings of
	// one account share its budget. It must not depend on whether the
	// account exists. nil: lower case.
	Canonical func(ctx context.Context, account string) string
}

// SharedAuthStore is an AuthStore that the guards of several hosts count
// in (internal/cluster): their tags of wrong passwords need one key, so
// that a password one host counted is known as a repeat at another.
type SharedAuthStore interface {
	AuthStore
	TagKey(ctx context.Context) ([]byte, error)
}

// NewAuthGuard makes a guard counting in store (a MemoryAuthStore when nil).
func NewAuthGuard(l AuthLimits, store AuthStore) *AuthGuard {
	if l.MaxDelay == 0 {
		l.MaxDelay = 30 * time.Second
	}
	if store == nil {
		store = NewMemoryAuthStore()
	}
	g := &AuthGuard{limits: l, store: store, now: time.Now}
	if _, shared := store.(SharedAuthStore); !shared {
		g.tagKey = make([]byte, 32)
		rand.Read(g.tagKey)
	}
	return g
}

// key is the tag key: the guard's own, or the shared store's.
func (g *AuthGuard) key(ctx context.Context) ([]byte, error) {
	g.keyMu.Lock()
	defer g.keyMu.Unlock()
	if g.tagKey == nil {
		k, err := g.store.(SharedAuthStore).TagKey(ctx)
		if err != nil {
			return nil, err
		}
		g.tagKey = k
	}
	return g.tagKey, nil
}

// Verdict is what AuthGuard says about one login attempt.
type Verdict struct {
	// Refused: do not check the password; answer 454 4.7.0.
	Refused bool
	// Why names the limit that refused: "ip" (the source's failures),
	// "account" (the account's budget within the window) or "account-day"
	// (its daily budget).
	Why string
	// IPFailures are the source's recent failures; AccountFailures the
	// account's within the window, in the budget this source draws on
	// (familiar or not), DayFailures those within the day.
	IPFailures, AccountFailures, DayFailures int
	// Familiar: the account logged in from this source before.
	Familiar bool
	// Repeat: the failure just recorded repeated a wrong password already
	// counted for the account.
	Repeat bool
	// Until is when the refusal ends (the counted failures age out).
	Until time.Time
}

func accountKey(a string) string { return strings.ToLower(strings.TrimSpace(a)) }

// SourceKey is the unit a client is counted by (failed logins, messages
// per hour, connections): the IPv4 address, or the IPv6 /64, since one
// host (one customer of a provider, RFC 6177) commonly has a whole /64
// and could take a new address for every try.
func SourceKey(ip string) string { return sourceKey(ip) }

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

func (g *AuthGuard) account(ctx context.Context, a string) string {
	if g.Canonical != nil {
		if k := g.Canonical(ctx, a); k != "" {
			return k
		}
	}
	return accountKey(a)
}

// Keys in the store.
func ipKey(src string) string { return "ip " + src }
func budgetKey(acct string, familiar bool) string {
	if familiar {
		return "account-familiar " + acct
	}
	return "account " + acct
}
func familiarKey(acct string) string { return "familiar " + acct }
func wrongKey(acct string) string    { return "wrong " + acct }

// refuseAt returns when a count of failures ts (oldest first) stops
// reaching limit within period, or the zero time when it does not reach it.
func refuseAt(ts []time.Time, limit int, period time.Duration) time.Time {
	if limit <= 0 || len(ts) < limit {
		return time.Time{}
	}
	return ts[len(ts)-limit].Add(period)
}

// Check is asked before a login is verified. account may be "" when the
// mechanism has not said it yet. An error is the store's: the caller
// answers as for its own trouble (temporary), checking no password.
func (g *AuthGuard) Check(ctx context.Context, ip, account string) (Verdict, error) {
	return g.check(ctx, sourceKey(ip), account, g.now())
}

func (g *AuthGuard) check(ctx context.Context, src, account string, now time.Time) (Verdict, error) {
	l := g.limits
	ipF, err := g.store.Failures(ctx, ipKey(src), now.Add(-l.Window))
	if err != nil {
		return Verdict{}, err
	}
	v := Verdict{IPFailures: len(ipF)}
	if until := refuseAt(ipF, l.MaxPerIP, l.Window); !until.IsZero() {
		v.Refused, v.Why, v.Until = true, "ip", until
		return v, nil
	}
	if account == "" {
		return v, nil
	}
	acct := g.account(ctx, account)
	if l.FamiliarFor > 0 {
		if v.Familiar, err = g.store.Noted(ctx, familiarKey(acct), src, now); err != nil {
			return Verdict{}, err
		}
	}
	since := now.Add(-l.Window)
	if l.MaxPerAccountDay > 0 {
		since = now.Add(-max(l.Window, day))
	}
	all, err := g.store.Failures(ctx, budgetKey(acct, v.Familiar), since)
	if err != nil {
		return Verdict{}, err
	}
	var recent, daily []time.Time
	for _, t := range all {
		if now.Sub(t) < l.Window {
			recent = append(recent, t)
		}
		if now.Sub(t) < day {
			daily = append(daily, t)
		}
	}
	v.AccountFailures, v.DayFailures = len(recent), len(daily)
	if until := refuseAt(recent, l.MaxPerAccount, l.Window); !until.IsZero() {
		v.Refused, v.Why, v.Until = true, "account", until
	}
	if until := refuseAt(daily, l.MaxPerAccountDay, day); !until.IsZero() && until.After(v.Until) {
		v.Refused, v.Why, v.Until = true, "account-day", until
	}
	return v, nil
}

// Delay is how long to wait before answering a failed login, given the
// failures counted so far (this one included).
func (g *AuthGuard) Delay(v Verdict) time.Duration {
	n := max(v.IPFailures, v.AccountFailures)
	extra := n - g.limits.FreeFailures
	if extra <= 0 || g.limits.Delay <= 0 {
		return 0
	}
	return min(time.Duration(extra)*g.limits.Delay, g.limits.MaxDelay)
}

// tag names a wrong password for an account without keeping it.
func (g *AuthGuard) tag(key []byte, acct, password string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(acct))
	m.Write([]byte{0})
	m.Write([]byte(password))
	return base64.RawStdEncoding.EncodeToString(m.Sum(nil)[:12])
}

// Failed records a failed login with the password that failed and returns
// the counts with it included. The failure counts against the source; and
// toward the account's budget (the familiar one for a familiar source)
// unless the same wrong password was counted for the account within the
// day.
func (g *AuthGuard) Failed(ctx context.Context, ip, account, password string) (Verdict, error) {
	now := g.now()
	l := g.limits
	src := sourceKey(ip)
	if err := g.store.AddFailure(ctx, ipKey(src), now, now.Add(l.Window)); err != nil {
		return Verdict{}, err
	}
	repeat := false
	if account != "" {
		acct := g.account(ctx, account)
		key, err := g.key(ctx)
		if err != nil {
			return Verdict{}, err
		}
		tag := g.tag(key, acct, password)
		if repeat, err = g.store.Noted(ctx, wrongKey(acct), tag, now); err != nil {
			return Verdict{}, err
		}
		if !repeat {
			familiar := false
			if l.FamiliarFor > 0 {
				if familiar, err = g.store.Noted(ctx, familiarKey(acct), src, now); err != nil {
					return Verdict{}, err
				}
			}
			keep := now.Add(l.Window)
			if l.MaxPerAccountDay > 0 {
				keep = now.Add(max(l.Window, day))
			}
			if err := g.store.AddFailure(ctx, budgetKey(acct, familiar), now, keep); err != nil {
				return Verdict{}, err
			}
			if err := g.store.Note(ctx, wrongKey(acct), tag, keep); err != nil {
				return Verdict{}, err
			}
		}
	}
	v, err := g.check(ctx, src, account, now)
	v.Repeat = repeat
	return v, err
}

// Succeeded records a login: the source becomes familiar to the account
// for FamiliarFor. The account's failures stay counted.
func (g *AuthGuard) Succeeded(ctx context.Context, ip, account string) error {
	if g.limits.FamiliarFor <= 0 {
		return nil
	}
	now := g.now()
	return g.store.Note(ctx, familiarKey(g.account(ctx, account)), sourceKey(ip), now.Add(g.limits.FamiliarFor))
}

// Sweep drops expired counts; call it now and then so that a scan from
// many addresses does not grow the store forever.
func (g *AuthGuard) Sweep(ctx context.Context) error {
	return g.store.Expire(ctx, g.now())
}

// Rate counts events per key over a sliding hour (messages per IP or per
// account). A limit of 0 means no limit.
type Rate struct {
	Limit  int
	Window time.Duration
	// Store, when set, counts the events where several hosts share them
	// (internal/cluster), under Name: a sender gets the limit once, not
	// once per host. Nil: this process's memory.
	Store RateStore
	Name  string
	now   func() time.Time

	mu     sync.Mutex
	events map[string][]time.Time
}

// NewRate makes a limiter for limit events per window.
func NewRate(limit int, window time.Duration) *Rate {
	return &Rate{Limit: limit, Window: window, now: time.Now, events: map[string][]time.Time{}}
}

// RateStore keeps a Rate's counts where several hosts share them.
type RateStore interface {
	// Take records one event of key at now unless limit events of key
	// lie within window before now, as one step for every host; it
	// reports whether it recorded.
	Take(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (bool, error)
}

// TakeSource is Take for a client address, counted by its SourceKey:
// a host rotating through its IPv6 /64 is one source.
func (r *Rate) TakeSource(ctx context.Context, ip string) (bool, error) {
	return r.Take(ctx, sourceKey(ip))
}

// Take records one event for key, or reports false (recording nothing)
// when the key is at its limit; in Store when there is one (an error is
// the store's: our own trouble, answered as temporary).
func (r *Rate) Take(ctx context.Context, key string) (bool, error) {
	if r == nil || r.Limit <= 0 {
		return true, nil
	}
	if r.Store != nil {
		return r.Store.Take(ctx, r.Name+" "+key, r.Limit, r.Window, r.now())
	}
	return r.Allow(key), nil
}

// AllowSource is Allow for a client address, counted by its SourceKey.
func (r *Rate) AllowSource(ip string) bool { return r.Allow(sourceKey(ip)) }

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
