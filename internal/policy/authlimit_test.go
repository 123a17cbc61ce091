package policy

import (
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time               { return c.t }
func (c *clock) advance(d time.Duration)      { c.t = c.t.Add(d) }
func newClock() *clock                        { return &clock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)} }
func guard(c *clock, l AuthLimits) *AuthGuard { g := NewAuthGuard(l); g.now = c.now; return g }

var limits = AuthLimits{FreeFailures: 3, Delay: time.Second, MaxDelay: 5 * time.Second, MaxPerIP: 10, MaxPerAccount: 30, Window: 15 * time.Minute}

func TestAuthGuardSlowsThenRefusesAnIP(t *testing.T) {
	c := newClock()
	g := guard(c, limits)
	var delays []time.Duration
	for i := 1; i <= 10; i++ {
		if v := g.Check("198.51.100.7", "demo@example.test"); v.Refused {
			t.Fatalf("attempt %d refused before the limit: %+v", i, v)
		}
		delays = append(delays, g.Delay(g.Failed("198.51.100.7", "demo@example.test")))
	}
	want := []time.Duration{0, 0, 0, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if delays[i] != want[i] {
			t.Errorf("failure %d: delay %v, want %v", i+1, delays[i], want[i])
		}
	}
	v := g.Check("198.51.100.7", "other@example.test")
	if !v.Refused || v.Why != "ip" {
		t.Fatalf("11th attempt from the IP: %+v, want refused by ip", v)
	}
	if v.Until != c.t.Add(15*time.Minute) {
		t.Errorf("refused until %v", v.Until)
	}
	// Another IP, same account: still allowed (the per-account limit is higher).
	if v := g.Check("127.0.0.2", "demo@example.test"); v.Refused {
		t.Fatalf("another IP refused: %+v", v)
	}
	// The window passes: the IP may try again.
	c.advance(15 * time.Minute)
	if v := g.Check("198.51.100.7", "demo@example.test"); v.Refused {
		t.Fatalf("still refused after the window: %+v", v)
	}
}

func TestAuthGuardAccountLimitSparesTheOwner(t *testing.T) {
	c := newClock()
	g := guard(c, limits)
	// A guesser spread over 30 addresses, one failure each.
	for i := 0; i < 30; i++ {
		ip := "203.0.113." + string(rune('a'+i))
		g.Failed(ip, "Demo@Example.test")
	}
	if v := g.Check("203.0.113.a", "demo@example.test"); !v.Refused || v.Why != "account" {
		t.Errorf("a guessing IP is not refused for the account: %+v", v)
	}
	if v := g.Check("192.0.2.1", "demo@example.test"); v.Refused {
		t.Errorf("the owner's fresh IP is refused: %+v", v)
	}
	if v := g.Check("203.0.113.a", "someone@example.test"); v.Refused {
		t.Errorf("the guessing IP is refused for another account: %+v", v)
	}
}

func TestAuthGuardSuccessClearsThePair(t *testing.T) {
	c := newClock()
	g := guard(c, AuthLimits{MaxPerIP: 100, MaxPerAccount: 2, Window: time.Minute})
	g.Failed("192.0.2.1", "demo@example.test")
	g.Failed("192.0.2.1", "demo@example.test")
	if v := g.Check("192.0.2.1", "demo@example.test"); !v.Refused {
		t.Fatalf("not refused: %+v", v)
	}
	g.Succeeded("192.0.2.1", "demo@example.test")
	if v := g.Check("192.0.2.1", "demo@example.test"); v.Refused {
		t.Fatalf("refused after the owner logged in from it: %+v", v)
	}
	c.advance(2 * time.Minute)
	g.Sweep()
	if len(g.byIP)+len(g.byAccount)+len(g.pairs) != 0 {
		t.Errorf("sweep left %d %d %d", len(g.byIP), len(g.byAccount), len(g.pairs))
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
		g.Failed(fmt.Sprintf("2001:db8:1:2::%x", i+1), fmt.Sprintf("user%d@example.test", i))
	}
	if v := g.Check("2001:db8:1:2:ffff::1", "new@example.test"); !v.Refused || v.Why != "ip" {
		t.Errorf("another address of the same /64: %+v, want refused by ip", v)
	}
	if v := g.Check("2001:db8:1:3::1", "new@example.test"); v.Refused || v.IPFailures != 0 {
		t.Errorf("the next /64: %+v, want a clean source", v)
	}
	if v := g.Check("::ffff:198.51.100.7", ""); v.IPFailures != 0 {
		t.Errorf("an IPv4-mapped address counted with IPv6: %+v", v)
	}
	g.Failed("::ffff:198.51.100.7", "x@example.test")
	if v := g.Check("198.51.100.7", ""); v.IPFailures != 1 {
		t.Errorf("the mapped and the plain IPv4 address are one source: %+v", v)
	}
}
