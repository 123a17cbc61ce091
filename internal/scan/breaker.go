package scan

import (
	"sync"
	"time"
)

// breaker makes a dead scanner cost one timeout per interval, not one per
// message: after max failures in a row it opens, and messages get the
// scanner's failure policy at once; when the interval has passed, one
// message tries the scanner again (half-open) while the others still skip
// it; a success closes it.
type breaker struct {
	max      int
	interval time.Duration

	mu       sync.Mutex
	fails    int
	until    time.Time // open until
	probing  bool
	lastFail time.Time
}

// allow reports whether the scanner may be asked now; if not, until when
// it is skipped.
func (b *breaker) allow(now time.Time) (bool, time.Time) {
	if b.max <= 0 {
		return true, time.Time{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fails < b.max {
		return true, time.Time{}
	}
	if now.Before(b.until) || b.probing {
		return false, b.until
	}
	b.probing = true
	return true, time.Time{}
}

// failed records a failure; it reports whether the breaker (re)opened.
func (b *breaker) failed(now time.Time) bool {
	if b.max <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fails++
	b.lastFail = now
	b.probing = false
	if b.fails >= b.max {
		b.until = now.Add(b.interval)
		return true
	}
	return false
}

// succeeded records an answer; it reports whether the breaker was open.
func (b *breaker) succeeded() bool {
	if b.max <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	wasOpen := b.fails >= b.max
	b.fails, b.probing = 0, false
	return wasOpen
}

// BreakerState is a scanner's circuit breaker as mailq and doctor show it.
type BreakerState struct {
	Scanner  string    `json:"scanner"`
	Open     bool      `json:"open"`
	Until    time.Time `json:"until,omitzero"`
	Failures int       `json:"failures"`
}

// Breakers returns the state of every scanner's breaker.
func (e *Engine) Breakers() []BreakerState {
	var out []BreakerState
	for _, en := range e.entries {
		b := &en.br
		b.mu.Lock()
		out = append(out, BreakerState{Scanner: en.Scanner.Name(), Open: b.max > 0 && b.fails >= b.max,
			Until: b.until, Failures: b.fails})
		b.mu.Unlock()
	}
	return out
}
