package passwd

import (
	"context"
	"runtime"
	"strings"
	"sync"
)

// Gate bounds what password verification may cost at once: at most Max
// verifications run together, and their memory adds up to at most Budget
// bytes. One argon2id verification allocates its whole memory parameter
// (64 MiB by default), so without a gate a few dozen parallel AUTH attempts
// take gigabytes. Attempts wait in arrival order; one whose context ends
// first gets its error and costs nothing. A hash that needs more than the
// whole budget runs alone.
//
// A verification whose context says it comes first (First: a login from a
// source without recent failures) is let in before those that wait
// without it, so that a guesser hammering from its addresses queues behind
// the account owners rather than ahead of them.
type Gate struct {
	max    int
	budget int64

	mu      sync.Mutex
	running int
	used    int64
	queue   []*gateWaiter
}

type gateWaiter struct {
	cost  int64
	first bool
	ready chan struct{}
}

type firstKey struct{}

// First marks ctx's verification as one that goes before the others.
func First(ctx context.Context) context.Context { return context.WithValue(ctx, firstKey{}, true) }

func isFirst(ctx context.Context) bool { v, _ := ctx.Value(firstKey{}).(bool); return v }

// NewGate makes a gate for max verifications and budget bytes at once
// (at least one verification always fits).
func NewGate(max int, budget int64) *Gate {
	if max < 1 {
		max = 1
	}
	return &Gate{max: max, budget: budget}
}

// Slots is how many verifications of the given cost fit at once.
func (g *Gate) Slots(cost int64) int {
	n := g.max
	if cost > 0 && g.budget > 0 {
		if by := int(g.budget / cost); by < n {
			n = max(by, 1)
		}
	}
	return n
}

func (g *Gate) clamp(cost int64) int64 {
	if g.budget > 0 && cost > g.budget {
		return g.budget
	}
	return cost
}

func (g *Gate) fits(cost int64) bool {
	return g.running < g.max && (g.running == 0 || g.budget <= 0 || g.used+cost <= g.budget)
}

// Acquire waits for room for a verification of cost bytes. It returns the
// function that gives the room back, or ctx's error.
func (g *Gate) Acquire(ctx context.Context, cost int64) (release func(), err error) {
	cost = g.clamp(cost)
	g.mu.Lock()
	if (len(g.queue) == 0 || isFirst(ctx) && !g.queue[0].first) && g.fits(cost) {
		g.take(cost)
		g.mu.Unlock()
		return g.releaser(cost), nil
	}
	w := &gateWaiter{cost: cost, first: isFirst(ctx), ready: make(chan struct{})}
	g.enqueue(w)
	g.mu.Unlock()
	select {
	case <-w.ready:
		return g.releaser(cost), nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		select {
		case <-w.ready:
			// Granted just now: hand the room on.
			g.give(cost)
		default:
			for i, q := range g.queue {
				if q == w {
					g.queue = append(g.queue[:i], g.queue[i+1:]...)
					break
				}
			}
			g.grant()
		}
		return nil, ctx.Err()
	}
}

// Waiting is how many verifications wait for room now.
func (g *Gate) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

func (g *Gate) take(cost int64) { g.running++; g.used += cost }

// enqueue puts w behind the waiters of its class: a first one behind the
// other first ones, ahead of the rest. g.mu is held.
func (g *Gate) enqueue(w *gateWaiter) {
	i := len(g.queue)
	if w.first {
		for i > 0 && !g.queue[i-1].first {
			i--
		}
	}
	g.queue = append(g.queue, nil)
	copy(g.queue[i+1:], g.queue[i:])
	g.queue[i] = w
}

// give returns room and lets waiters in; g.mu is held.
func (g *Gate) give(cost int64) {
	g.running--
	g.used -= cost
	g.grant()
}

func (g *Gate) grant() {
	for len(g.queue) > 0 && g.fits(g.queue[0].cost) {
		w := g.queue[0]
		g.queue = g.queue[1:]
		g.take(w.cost)
		close(w.ready)
	}
}

// collectAbove is the cost from which release collects the garbage first.
const collectAbove = 1 << 20

func (g *Gate) releaser(cost int64) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			if cost >= collectAbove {
				// The verification's memory is garbage now, but the next
				// one would allocate its own before the collector got to
				// it: three blocks of 64 MiB live where the budget allows
				// two. Collecting first makes the room real. The heap is
				// small and the blocks hold no pointers, so this costs a
				// millisecond or two against an argon2 run of hundreds.
				runtime.GC()
			}
			g.mu.Lock()
			g.give(cost)
			g.mu.Unlock()
		})
	}
}

// Cost is the memory in bytes that verifying stored takes, for the Gate:
// an argon2 hash's own m= parameter (not the policy's: an imported hash may
// ask for more), and a small constant for the other schemes.
func Cost(stored string) int64 {
	const small = 64 << 10
	switch Scheme(stored) {
	case "ARGON2ID", "ARGON2I":
		parts := strings.Split(body(stored), "$")
		if len(parts) == 6 {
			for _, kv := range strings.Split(parts[3], ",") {
				if v, ok := strings.CutPrefix(kv, "m="); ok {
					var kib int64
					for _, c := range v {
						if c < '0' || c > '9' {
							return small
						}
						kib = kib*10 + int64(c-'0')
						if kib > 1<<32 {
							return small
						}
					}
					if kib == 0 {
						return small // "m=" without a number: not a hash Verify takes
					}
					return kib << 10
				}
			}
		}
	}
	return small
}
