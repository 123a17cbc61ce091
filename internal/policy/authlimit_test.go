package policy

import (
	"context"
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)} }
func guard(c *clock, l AuthLimits) *AuthGuard {
	g := NewAuthGuard(l, nil)
	g.now = c.now
	return g
}

var limits = AuthLimits{FreeFailures: 3, Delay: time.Second, MaxDelay: 5 * time.Second, MaxPerIP: 10,
	MaxPerAccount: 30, MaxPerAccountDay: 100, Window: 15 * time.Minute, FamiliarFor: 30 * day}

var bg = context.Background()

func check(t *testing.T, g *AuthGuard, ip, account string) Verdict {
	t.Helper()
	v, err := g.Check(bg, ip, account)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func fail(t *testing.T, g *AuthGuard, ip, account, password string) Verdict {
	t.Helper()
	v, err := g.Failed(bg, ip, account, password)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func succeed(t *testing.T, g *AuthGuard, ip, account string) {
	t.Helper()
	if err := g.Succeeded(bg, ip, account); err != nil {
		t.Fatal(err)
	}
}

func TestAuthGuardSlowsThenRefusesAnIP(t *testing.T) {
	c := newClock()
	g := guard(c, limits)
	var delays []time.Duration
	for i := 1; i <= 10; i++ {
		if v := check(t, g, "198.51.100.7", "demo@example.test"); v.Refused {
			t.Fatalf("attempt %d refused before the limit: %+v", i, v)
		}
		delays = append(delays, g.Delay(fail(t, g, "198.51.100.7", "demo@example.test", fmt.Sprint("guess", i))))
	}
	want := []time.Duration{0, 0, 0, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if delays[i] != want[i] {
			t.Errorf("failure %d: delay %v, want %v", i+1, delays[i], want[i])
		}
	}
	v := check(t, g, "198.51.100.7", "other@example.test")
	if !v.Refused || v.Why != "ip" {
		t.Fatalf("11th attempt from the IP: %+v, want refused by ip", v)
	}
	if v.Until != c.t.Add(15*time.Minute) {
		t.Errorf("refused until %v", v.Until)
	}
	// Another IP, same account: still allowed (the account's budget is larger).
	if v := check(t, g, "192.0.2.2", "demo@example.test"); v.Refused {
		t.Fatalf("another IP refused: %+v", v)
	}
	// The window passes: the IP may try again.
	c.advance(15 * time.Minute)
	if v := check(t, g, "198.51.100.7", "demo@example.test"); v.Refused {
		t.Fatalf("still refused after the window: %+v", v)
	}
}

// The issue-24 guesser: a new source address for every guess. Before, the
// account's limit refused only sources that had failed for it, so each
// fresh address got its guess checked, indefinitely. Now the account's
// budget holds across sources: spent, every unfamiliar source is refused
// for it (IPv4 addresses, fresh IPv6 /64s alike), while the owner's
// familiar source still gets in and other accounts are untouched.
func TestAuthGuardAccountBudgetHoldsAcrossSources(t *testing.T) {
	c := newClock()
	g := guard(c, limits)
	succeed(t, g, "192.0.2.1", "demo@example.test") // the owner, last week
	c.advance(7 * day)
	start, checked := c.t, 0
	for i := 0; i < 60; i++ {
		ip := fmt.Sprintf("2001:db8:%x::1", i) // a fresh /64 every time
		if i%2 == 1 {
			ip = fmt.Sprintf("203.0.113.%d", i)
		}
		if v := check(t, g, ip, "Demo@Example.test"); v.Refused {
			if v.Why != "account" {
				t.Errorf("guess %d refused by %q, want the account's budget", i, v.Why)
			}
			continue
		}
		checked++
		fail(t, g, ip, "Demo@Example.test", fmt.Sprint("guess", i))
		c.advance(time.Second)
	}
	if checked != limits.MaxPerAccount {
		t.Errorf("%d guesses checked from 60 fresh sources, want the budget of %d", checked, limits.MaxPerAccount)
	}
	if v := check(t, g, "2001:db8:ffff::1", "demo@example.test"); !v.Refused || v.Why != "account" || v.Until != start.Add(15*time.Minute) {
		t.Errorf("a fresh /64 after the budget: %+v, want refused by the account", v)
	}
	if v := check(t, g, "192.0.2.1", "demo@example.test"); v.Refused || !v.Familiar {
		t.Errorf("the owner's familiar source: %+v, want allowed and familiar", v)
	}
	if v := check(t, g, "203.0.113.1", "someone@example.test"); v.Refused {
		t.Errorf("a guessing source is refused for another account: %+v", v)
	}
	// The window passes: the budget refills.
	c.advance(15 * time.Minute)
	if v := check(t, g, "198.51.100.99", "demo@example.test"); v.Refused {
		t.Errorf("refused after the window: %+v", v)
	}
}

// A patient guesser that stays under the window's budget meets the daily
// one: a bounded number of guesses per day and account, not one a second.
func TestAuthGuardDailyBudget(t *testing.T) {
	c := newClock()
	g := guard(c, limits)
	checked := 0
	start := c.t
	for i := 0; c.t.Sub(start) < day; i++ {
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		if v := check(t, g, ip, "demo@example.test"); !v.Refused {
			checked++
			fail(t, g, ip, "demo@example.test", fmt.Sprint("guess", i))
		}
		c.advance(time.Second)
	}
	if checked != limits.MaxPerAccountDay {
		t.Errorf("%d guesses checked in a day at one a second from fresh sources, want the daily budget %d", checked, limits.MaxPerAccountDay)
	}
	v := check(t, g, "10.200.0.1", "demo@example.test")
	if v.Refused {
		t.Errorf("a day after the first guess, still refused: %+v", v)
	}
}

// The owner's familiar source has a budget of its own: a guesser spending
// the other one does not lock the owner out, and the owner's own typos do
// not open the door to the guesser.
func TestAuthGuardFamiliarSourceKeepsItsBudget(t *testing.T) {
	c := newClock()
	g := guard(c, limits)
	succeed(t, g, "2001:db8:1:2::10", "demo@example.test")
	for i := 0; i < limits.MaxPerAccount; i++ {
		fail(t, g, fmt.Sprintf("198.51.100.%d", i), "demo@example.test", fmt.Sprint("guess", i))
	}
	// Another address of the owner's /64 is the same source.
	v := check(t, g, "2001:db8:1:2::99", "demo@example.test")
	if v.Refused || !v.Familiar || v.AccountFailures != 0 {
		t.Fatalf("the owner's source: %+v, want allowed, familiar, with no failures of its own", v)
	}
	v = fail(t, g, "2001:db8:1:2::99", "demo@example.test", "typo")
	if v.AccountFailures != 1 || !v.Familiar {
		t.Errorf("the owner's typo: %+v, want one familiar failure", v)
	}
	if v := check(t, g, "198.51.100.200", "demo@example.test"); !v.Refused || v.AccountFailures != limits.MaxPerAccount {
		t.Errorf("a stranger after the owner's typo: %+v, want still refused with %d failures", v, limits.MaxPerAccount)
	}
	// Familiarity ends after FamiliarFor.
	c.advance(limits.FamiliarFor)
	if v := check(t, g, "2001:db8:1:2::10", "demo@example.test"); v.Familiar {
		t.Errorf("still familiar after auth_familiar_for: %+v", v)
	}
}

// A known and an unknown account get the same answers to the same
// guesses: counts are kept by name, refusals come before any lookup.
func TestAuthGuardKnownAndUnknownAccountsAlike(t *testing.T) {
	c := newClock()
	g := guard(c, limits)
	succeed(t, g, "192.0.2.1", "demo@example.test") // only the real account has a familiar source
	run := func(account string) []Verdict {
		var vs []Verdict
		for i := 0; i < 40; i++ {
			ip := fmt.Sprintf("198.51.%d.%d", len(account), i)
			v := check(t, g, ip, account)
			if !v.Refused {
				v = fail(t, g, ip, account, fmt.Sprint("guess", i))
			}
			v.Until = time.Time{}
			vs = append(vs, v)
		}
		return vs
	}
	known, unknown := run("demo@example.test"), run("nobody@example.test")
	for i := range known {
		if known[i] != unknown[i] {
			t.Errorf("guess %d: known account %+v, unknown %+v", i, known[i], unknown[i])
		}
	}
}

// A client repeating one wrong password (an old one, after a change) is no
// new guess: it counts against its source, not toward the account's
// budget, so it cannot spend the budget and lock out everyone else.
func TestAuthGuardRepeatedPasswordIsNoNewGuess(t *testing.T) {
	c := newClock()
	g := guard(c, AuthLimits{MaxPerIP: 1000, MaxPerAccount: 5, MaxPerAccountDay: 10, Window: time.Hour, FamiliarFor: day})
	for i := 0; i < 50; i++ {
		v := fail(t, g, fmt.Sprintf("198.51.100.%d", i%3), "demo@example.test", "old password")
		if v.Refused || (i > 0) != v.Repeat {
			t.Fatalf("repeat %d: %+v", i, v)
		}
		c.advance(time.Minute)
	}
	if v := check(t, g, "203.0.113.1", "demo@example.test"); v.Refused || v.AccountFailures != 1 {
		t.Errorf("after 50 repeats of one wrong password: %+v, want one failure counted", v)
	}
	if v := check(t, g, "198.51.100.0", ""); v.IPFailures == 0 {
		t.Errorf("repeats did not count against their source: %+v", v)
	}
	// The tag is per account: the same password for another account counts.
	if v := fail(t, g, "198.51.100.0", "other@example.test", "old password"); v.Repeat {
		t.Errorf("another account's first failure taken as a repeat: %+v", v)
	}
}

// Spellings of one account share its budget through Canonical (the
// directory's lookup key: a domain alias reaches its target).
func TestAuthGuardCanonicalAccount(t *testing.T) {
	c := newClock()
	g := guard(c, AuthLimits{MaxPerIP: 1000, MaxPerAccount: 2, Window: time.Hour})
	g.Canonical = func(_ context.Context, a string) string {
		if a == "demo@alias.test" {
			return "demo@example.test"
		}
		return accountKey(a)
	}
	fail(t, g, "198.51.100.1", "DEMO@example.test", "a")
	fail(t, g, "198.51.100.2", "demo@alias.test", "b")
	if v := check(t, g, "198.51.100.3", "demo@example.test"); !v.Refused {
		t.Errorf("two spellings of one account did not share its budget: %+v", v)
	}
}

func TestAuthGuardSweep(t *testing.T) {
	c := newClock()
	s := NewMemoryAuthStore()
	g := NewAuthGuard(AuthLimits{MaxPerIP: 100, MaxPerAccount: 2, MaxPerAccountDay: 5, Window: time.Minute, FamiliarFor: time.Hour}, s)
	g.now = c.now
	fail(t, g, "192.0.2.1", "demo@example.test", "x")
	succeed(t, g, "192.0.2.1", "demo@example.test")
	c.advance(2 * time.Minute)
	g.Sweep(bg)
	if n := s.size(); n != 3 { // the account's daily count, the wrong password's tag, the familiar source
		t.Errorf("after the window: %d entries, want 3", n)
	}
	c.advance(day)
	g.Sweep(bg)
	if n := s.size(); n != 0 {
		t.Errorf("after a day: %d entries left", n)
	}
}

func TestRate(t *testing.T) {
	c := newClock()
	r := NewRate(3, time.Hour)
	r.now = c.now
	for i := 0; i < 3; i++ {
		if !r.Allow("ip") {
			t.Fatalf("event %d refused", i)
		}
	}
	if r.Allow("ip") {
		t.Fatal("4th event in the hour allowed")
	}
	if !r.Allow("other") {
		t.Fatal("another key refused")
	}
	c.advance(time.Hour)
	if !r.Allow("ip") {
		t.Fatal("refused after the window")
	}
	if !NewRate(0, time.Hour).Allow("x") || !(*Rate)(nil).Allow("x") {
		t.Fatal("limit 0 must not limit")
	}
}

// An IPv6 guesser that takes a new address of its /64 for every try is
// counted as one source; the next /64 is another.
func TestAuthGuardCountsIPv6By64(t *testing.T) {
	c := newClock()
	g := guard(c, limits)
	for i := 0; i < 10; i++ {
		fail(t, g, fmt.Sprintf("2001:db8:1:2::%x", i+1), fmt.Sprintf("user%d@example.test", i), "x")
	}
	if v := check(t, g, "2001:db8:1:2:ffff::1", "new@example.test"); !v.Refused || v.Why != "ip" {
		t.Errorf("another address of the same /64: %+v, want refused by ip", v)
	}
	if v := check(t, g, "2001:db8:1:3::1", "new@example.test"); v.Refused || v.IPFailures != 0 {
		t.Errorf("the next /64: %+v, want a clean source", v)
	}
	if v := check(t, g, "::ffff:198.51.100.7", ""); v.IPFailures != 0 {
		t.Errorf("an IPv4-mapped address counted with IPv6: %+v", v)
	}
	fail(t, g, "::ffff:198.51.100.7", "x@example.test", "x")
	if v := check(t, g, "198.51.100.7", ""); v.IPFailures != 1 {
		t.Errorf("the mapped and the plain IPv4 address are one source: %+v", v)
	}
}

// The hourly message limit per client counts an IPv6 /64 as one source,
// as the AUTH limits do: a host cannot take a fresh address per message.
func TestRateCountsIPv6By64(t *testing.T) {
	r := NewRate(2, time.Hour)
	if !r.AllowSource("2001:db8:1:2::1") || !r.AllowSource("2001:db8:1:2::2") {
		t.Fatal("refused within the limit")
	}
	if r.AllowSource("2001:db8:1:2:ffff::3") {
		t.Error("a third address of the same /64 allowed past the limit")
	}
	if !r.AllowSource("2001:db8:1:3::1") || !r.AllowSource("198.51.100.1") {
		t.Error("another /64 or an IPv4 address refused")
	}
}
