package relay

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// destination is one next hop as the limits see it: a recipient domain
// (MX delivery) or a smarthost, at one TLS level. It counts attempts in
// flight (relay.max_per_destination), keeps idle sessions for reuse and
// tracks connection failures in a row: after relay.dead_after it is
// suspended for relay.dead_interval (Postfix's dead destination), so that
// a dead domain costs one timeout per interval, not one per message.
type destination struct {
	key   string // name|level
	name  string // the domain or [smarthost]
	limit int

	mu       sync.Mutex
	active   int
	changed  chan struct{} // closed and replaced when active or the state changes
	idle     []*idleConn
	failures int    // connection or TLS failures in a row
	last     string // the last of them, as a sentence
	until    time.Time
	// What the suspension says, fixed when it starts, so that every
	// message deferred by it has the same reason (mailq groups them).
	sfailures int
	slast     string
	probing   bool // after a suspension, one attempt is trying again
}

type idleConn struct {
	c     *conn
	timer *time.Timer
}

// suspendedError is returned while a destination is suspended.
type suspendedError struct {
	Dest     string
	Until    time.Time
	Failures int
	Last     string
	Probing  bool
}

func (e *suspendedError) Error() string {
	s := fmt.Sprintf("destination %s suspended until %s: %d connection failures, last: %s",
		e.Dest, e.Until.Local().Format("15:04"), e.Failures, e.Last)
	if e.Probing {
		s = fmt.Sprintf("destination %s suspended: %d connection failures, one attempt is trying it again now; last: %s",
			e.Dest, e.Failures, e.Last)
	}
	return s
}

func newDestination(key, name string, limit int) *destination {
	return &destination{key: key, name: name, limit: max(limit, 1), changed: make(chan struct{})}
}

func (d *destination) notifyLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// acquire takes a slot for one attempt, waiting while the destination is
// at its limit. A suspended destination answers at once; once its
// suspension is over, only one attempt goes ahead (probe) and the others
// stay deferred until it has shown whether the destination is back.
func (d *destination) acquire(ctx context.Context, deadAfter int, now func() time.Time) error {
	for {
		d.mu.Lock()
		if d.failures >= deadAfter {
			if now().Before(d.until) || d.probing {
				e := &suspendedError{Dest: d.name, Until: d.until, Failures: d.sfailures, Last: d.slast, Probing: d.probing && !now().Before(d.until)}
				d.mu.Unlock()
				return e
			}
			// The interval is over: this attempt is the probe.
			d.probing = true
			d.active++
			d.mu.Unlock()
			return nil
		}
		if d.active < d.limit {
			d.active++
			d.mu.Unlock()
			return nil
		}
		ch := d.changed
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// release gives the slot back.
func (d *destination) release() {
	d.mu.Lock()
	d.active--
	d.notifyLocked()
	d.mu.Unlock()
}

// connFailed records a failure to get a working session; it reports
// whether this one suspended the destination.
func (d *destination) connFailed(why string, deadAfter int, interval time.Duration, now time.Time) (suspended bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failures++
	d.last = why
	d.probing = false
	if d.failures >= deadAfter && !now.Before(d.until) {
		// Suspended now (or again, after a failed probe). Failures of
		// attempts that were in flight do not move it.
		d.until = now.Add(interval)
		d.sfailures, d.slast = d.failures, why
		suspended = true
	}
	d.notifyLocked()
	return suspended
}

// connOK records a working session: the destination is alive.
func (d *destination) connOK(deadAfter int) (wasDead bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	wasDead = d.failures >= deadAfter
	if d.failures > 0 || d.probing {
		d.failures = 0
		d.last = ""
		d.until = time.Time{}
		d.probing = false
		d.notifyLocked()
	}
	return wasDead
}

// resume lifts a suspension (ebb queue flush --domain): the next attempt
// tries at once.
func (d *destination) resume() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	was := d.failures > 0
	d.failures = 0
	d.until = time.Time{}
	d.probing = false
	d.notifyLocked()
	return was
}

// takeIdle returns an idle session, or nil.
func (d *destination) takeIdle() *conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.idle) > 0 {
		ic := d.idle[len(d.idle)-1]
		d.idle = d.idle[:len(d.idle)-1]
		if ic.timer.Stop() {
			return ic.c
		}
		// The timer fired meanwhile and is closing it.
	}
	return nil
}

// putIdle keeps c for the next message for up to idle; then QUIT.
func (d *destination) putIdle(c *conn, idle time.Duration) {
	ic := &idleConn{c: c}
	d.mu.Lock()
	ic.timer = time.AfterFunc(idle, func() {
		d.mu.Lock()
		for i, x := range d.idle {
			if x == ic {
				d.idle = append(d.idle[:i], d.idle[i+1:]...)
				break
			}
		}
		d.mu.Unlock()
		c.quit()
	})
	d.idle = append(d.idle, ic)
	d.mu.Unlock()
}

// closeIdle ends every idle session.
func (d *destination) closeIdle() {
	d.mu.Lock()
	idle := d.idle
	d.idle = nil
	d.mu.Unlock()
	for _, ic := range idle {
		if ic.timer.Stop() {
			ic.c.quit()
		}
	}
}
