package scan

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/ebbmail/ebb/internal/safeio"
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
	lastErr  string
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
func (b *breaker) failed(now time.Time, err string) bool {
	if b.max <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastErr = err
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
	LastErr  string    `json:"last_error,omitempty"`
}

// BreakerFile is where the daemon keeps its breakers' state, under
// server.data_dir, for ebb mailq and ebb doctor (other processes).
const BreakerFile = "scan-breakers.json"

// WriteBreakers stores states at path durably (write, fsync, rename).
func WriteBreakers(path string, states []BreakerState) error {
	b, err := json.MarshalIndent(states, "", "  ")
	if err != nil {
		return err
	}
	return safeio.WriteFile(path, append(b, '\n'), 0o644)
}

// OpenBreakers reads the breakers at path that are open at now; none
// when the file is missing or unreadable (the daemon is not running, or
// the caller may not read server.data_dir).
func OpenBreakers(path string, now time.Time) []BreakerState {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var all, open []BreakerState
	if json.Unmarshal(b, &all) != nil {
		return nil
	}
	for _, s := range all {
		if s.Open && now.Before(s.Until) {
			open = append(open, s)
		}
	}
	return open
}

// WriteBreakerNotes prints one line per open breaker, for ebb mailq.
func WriteBreakerNotes(w io.Writer, path string, now time.Time) {
	for _, s := range OpenBreakers(path, now) {
		fmt.Fprintf(w, "scanner %s: not asked until %s (circuit breaker open after %d failures in a row: %s); messages get its on_failure policy\n",
			s.Scanner, s.Until.Format(time.RFC3339), s.Failures, s.LastErr)
	}
}

// Breakers returns the state of every scanner's breaker.
func (e *Engine) Breakers() []BreakerState {
	var out []BreakerState
	for _, en := range e.entries {
		b := &en.br
		b.mu.Lock()
		out = append(out, BreakerState{Scanner: en.Scanner.Name(), Open: b.max > 0 && b.fails >= b.max,
			Until: b.until, Failures: b.fails, LastErr: b.lastErr})
		b.mu.Unlock()
	}
	return out
}
