package queue

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

// Transport delivers a queued message to one recipient. It reads the data
// with msg.OpenData and writes msg.Prefix() in front of it. A nil error
// means delivered; a *diag.Error decides by its class whether the recipient
// is retried (temporary) or bounced (permanent); any other error is
// treated as temporary. A transport must not change msg or rcpt.
type Transport interface {
	Deliver(ctx context.Context, msg *Message, rcpt *Recipient) error
}

// TransportFunc adapts a function to Transport.
type TransportFunc func(ctx context.Context, msg *Message, rcpt *Recipient) error

func (f TransportFunc) Deliver(ctx context.Context, msg *Message, rcpt *Recipient) error {
	return f(ctx, msg, rcpt)
}

// Route is where a recipient's mail goes.
type Route int

const (
	// Local: a hosted mailbox (Maildir delivery).
	Local Route = iota
	// Remote: another host (relay).
	Remote
)

func (r Route) String() string {
	if r == Remote {
		return "remote"
	}
	return "local"
}

// Transports is what Run delivers through.
type Transports struct {
	// Route decides a recipient's transport. nil routes every recipient
	// to Local. An error defers the recipient with that error (e.g. the
	// directory is unreachable).
	Route func(ctx context.Context, rcpt string) (Route, error)
	Local Transport
	// Remote nil means NoRemote.
	Remote Transport
	// Resume, when set, lifts the remote transport's suspension of a
	// destination domain (ebb queue flush --domain; "" for all, by a
	// flush of every message); it returns how many were suspended.
	Resume func(domain string) int
}

// NoRemote is the remote transport while no outbound relay is configured:
// it defers with a reason that says so, so that mailq names the cause.
var NoRemote Transport = TransportFunc(func(ctx context.Context, msg *Message, rcpt *Recipient) error {
	e := diag.New("no_transport", "deliver to the remote recipient", rcpt.Address,
		errors.New("no outbound transport is configured"))
	e.Component = Component
	e.Class = diag.Temporary
	e.Hint = "ebb does not relay to other hosts yet; the message waits in the queue until it expires (queue.lifetime)"
	return e
})

// Run delivers queued messages until ctx is done, with queue.workers
// attempts at a time, and serves the control socket. When ctx is done it
// stops starting attempts, lets those in flight finish for up to
// queue.stop_timeout (then cancels them; they are retried after a
// restart), and returns.
func (q *Queue) Run(ctx context.Context, t Transports) error {
	if t.Local == nil {
		return errors.New("queue: Run without a local transport")
	}
	if t.Remote == nil {
		t.Remote = NoRemote
	}
	q.mu.Lock()
	q.resume = t.Resume
	q.running = true
	q.mu.Unlock()
	// Without the control socket deliveries still run: that matters more.
	// `ebb queue` then says that the daemon holds the spool but does not
	// answer, and why is in this log line.
	ctlDone := make(chan struct{})
	ctl, err := q.listenControl()
	if err != nil {
		q.log.Error("no control socket: ebb queue flush|hold|... cannot reach this daemon", "err", err)
		close(ctlDone)
	} else {
		go func() { q.serveControl(ctx, ctl); close(ctlDone) }()
	}

	// Attempts run on their own context: shutdown stops new work at once
	// but gives running attempts stop_timeout to finish.
	attemptCtx, cancelAttempts := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAttempts()
	stop := context.AfterFunc(ctx, func() {
		time.AfterFunc(q.set.stopTimeout, cancelAttempts)
	})
	defer stop()

	var wg sync.WaitGroup
	for i := 0; i < q.set.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				e := q.next(ctx)
				if e == nil {
					return
				}
				q.round(attemptCtx, e, t)
			}
		}()
	}
	wg.Wait()
	if ctl != nil {
		ctl.Close()
	}
	<-ctlDone
	return nil
}

// next waits for a due message, or returns nil when ctx is done.
func (q *Queue) next(ctx context.Context) *entry {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			return nil // stopping: start nothing new
		}
		q.mu.Lock()
		now := q.now()
		for q.waiting.Len() > 0 && !q.waiting[0].due.After(now) {
			e := heap.Pop(&q.waiting).(*entry)
			q.readyLocked(e)
		}
		if len(q.ready) > 0 {
			e := q.ready[0]
			q.ready[0] = nil
			q.ready = q.ready[1:]
			e.queued = false
			e.busy = true
			more := len(q.ready) > 0
			q.mu.Unlock()
			if more {
				q.signal() // chain: let another worker take the next one
			}
			return e
		}
		wait := time.Hour
		if q.waiting.Len() > 0 {
			wait = q.waiting[0].due.Sub(now)
		}
		q.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		case <-timer.C:
		}
	}
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// scheduleLocked makes e due at t (zero: not at all). q.mu is held.
func (q *Queue) scheduleLocked(e *entry, t time.Time) {
	if e.removed || e.held {
		q.unscheduleLocked(e)
		return
	}
	if t.IsZero() {
		q.unscheduleLocked(e)
		return
	}
	if e.busy {
		// The round in progress reschedules it when it ends.
		e.due = t
		return
	}
	if !t.After(q.now()) {
		q.readyLocked(e)
		return
	}
	if e.queued {
		return
	}
	e.due = t
	if e.hidx >= 0 {
		heap.Fix(&q.waiting, e.hidx)
	} else {
		heap.Push(&q.waiting, e)
	}
	q.signal()
}

func (q *Queue) readyLocked(e *entry) {
	if e.hidx >= 0 {
		heap.Remove(&q.waiting, e.hidx)
	}
	if !e.queued {
		e.queued = true
		q.ready = append(q.ready, e)
	}
	q.signal()
}

func (q *Queue) unscheduleLocked(e *entry) {
	if e.hidx >= 0 {
		heap.Remove(&q.waiting, e.hidx)
	}
	if e.queued {
		for i, r := range q.ready {
			if r == e {
				q.ready = append(q.ready[:i], q.ready[i+1:]...)
				break
			}
		}
		e.queued = false
	}
}

// round is one pass over a message: every due recipient is attempted, then
// expiry, bounces and delay notices are handled and the state is stored.
func (q *Queue) round(ctx context.Context, e *entry, t Transports) {
	e.mu.Lock()
	q.mu.Lock()
	flush := e.flush
	e.flush = false
	q.mu.Unlock()

	m := e.msg
	if m == nil || m.Held {
		e.mu.Unlock()
		q.endRound(e, time.Time{})
		return
	}
	now := q.now()
	changed := false
	var dueRcpts []*Recipient
	for _, r := range m.Recipients {
		if r.State == Pending || r.State == Deferred && (flush || !r.Next.After(now)) {
			dueRcpts = append(dueRcpts, r)
		}
	}
	if q.attemptAll(ctx, t, m, dueRcpts) { // batch.go
		changed = true
	}
	now = q.now()
	if q.expire(m, now) {
		changed = true
	}
	retryDSN := false
	if q.bounce(ctx, m) {
		changed = true
	} else if m.hasUnnotifiedFailure() {
		retryDSN = true
	}
	if q.delayNotice(ctx, m, now) {
		changed = true
	}

	var due time.Time
	if m.done() && !retryDSN {
		if err := q.remove(m); err != nil {
			q.log.Error("cannot remove a finished message", "queue_id", m.ID, "err", err.Error())
		} else {
			q.log.Info("removed", "queue_id", m.ID, "status", "done")
			q.observe(Event{Kind: EvRemoved, QueueID: m.ID, Note: "done"})
		}
		e.msg = nil
		e.mu.Unlock()
		q.forget(e)
		return
	}
	if changed {
		if err := q.persist(m); err != nil {
			// The state stays in memory; a crash before the next
			// successful write repeats these attempts (a duplicate, never
			// a loss).
			d := diag.PathError(Component, "write", "write the envelope", q.statePath(m.ID), err, q.cfg.Setting("queue.spool"))
			q.log.Error("cannot store the queue state", "queue_id", m.ID, "err", d)
		}
	}
	due = m.nextDue(q.now())
	if retryDSN {
		if r := q.now().Add(q.set.retryMin); due.IsZero() || r.Before(due) {
			due = r
		}
	}
	counts := m.counts()
	e.mu.Unlock()
	q.mu.Lock()
	e.counts = counts
	q.mu.Unlock()
	q.endRound(e, due)
}

// endRound reschedules e after a round (sooner if a flush came meanwhile).
func (q *Queue) endRound(e *entry, due time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e.busy = false
	if e.flush && !due.IsZero() {
		due = q.now()
	}
	q.scheduleLocked(e, due)
}

func (q *Queue) forget(e *entry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e.busy = false
	e.removed = true
	q.unscheduleLocked(e)
	if q.entries[e.id] == e {
		delete(q.entries, e.id)
	}
}

// attemptRouted delivers m to r by route (unless routing failed: err)
// and records the outcome.
func (q *Queue) attemptRouted(ctx context.Context, t Transports, m *Message, r *Recipient, route Route, err error, start time.Time) {
	if err == nil {
		tr := t.Local
		if route == Remote {
			tr = t.Remote
		}
		actx, cancel := context.WithTimeout(ctx, q.set.attemptTimeout)
		snapshot := *r
		// A nil error after a cancellation still means delivered: the
		// transport says so, and retrying would make a duplicate.
		err = tr.Deliver(actx, m, &snapshot)
		cancel()
		r.Done = snapshot.Done   // what the transport got done, kept for the retry
		r.Relay = snapshot.Relay // which next hop took it (for the success DSN)
	}
	q.record(ctx, m, r, route, start, err)
}

// record stores the outcome of one attempt for r: state, next attempt,
// error, history, counters and the log line.
func (q *Queue) record(ctx context.Context, m *Message, r *Recipient, route Route, start time.Time, err error) {
	end := q.now()
	r.Attempts++
	r.Last = end.UTC()
	a := Attempt{Time: end.UTC(), Recipient: r.Address, Duration: end.Sub(start)}
	if err == nil {
		r.State = Delivered
		r.Next = time.Time{}
		a.Outcome = Delivered
		q.count(Delivered, nil)
		q.log.Info("delivery", "queue_id", m.ID, "rcpt", r.Address, "route", route.String(),
			"outcome", "delivered", "attempt", r.Attempts, "duration", a.Duration.Round(time.Millisecond))
		q.observe(Event{Time: a.Time, Kind: EvDelivered, QueueID: m.ID, Recipient: r.Address, Route: route.String(),
			Attempt: r.Attempts, Duration: a.Duration, Session: m.Envelope.SessionID,
			Note: r.Relay.Summary(), Handoff: r.Relay})
		m.addHistory(a)
		return
	}
	d := diag.From(err, Component, "deliver")
	if errors.Is(err, context.DeadlineExceeded) && d.Reason == "" {
		d.Reason = fmt.Sprintf("no answer within %s (queue.attempt_timeout)", q.set.attemptTimeout)
	}
	d.Err = nil // stored as data; Errno and Reason carry the cause
	// One reference for the log line, mailq and a DSN's Diagnostic-Code.
	d.EnsureRef()
	r.Error = d
	a.Error = d
	if ctx.Err() != nil {
		// Our shutdown cut the attempt: not the recipient's trouble, so
		// no backoff; the next start tries again at once.
		d.Class = diag.Temporary
		d.Reason = "interrupted by the shutdown of ebb (queue.stop_timeout); " + d.Reason
	}
	if d.Temporary() {
		r.State = Deferred
		r.Next = end.Add(q.backoff(r.Attempts)).UTC()
		if ctx.Err() != nil {
			r.Next = end.UTC()
		}
		a.Outcome = Deferred
	} else {
		r.State = Failed
		r.Next = time.Time{}
		a.Outcome = Failed
	}
	q.count(a.Outcome, d)
	q.log.Warn("delivery", "queue_id", m.ID, "rcpt", r.Address, "route", route.String(),
		"outcome", string(a.Outcome), "attempt", r.Attempts, "next_attempt", r.Next,
		"duration", a.Duration.Round(time.Millisecond), "err", d)
	kind := EvDeferred
	if a.Outcome == Failed {
		kind = EvFailed
	}
	q.observe(Event{Time: a.Time, Kind: kind, QueueID: m.ID, Recipient: r.Address, Route: route.String(),
		Attempt: r.Attempts, Duration: a.Duration, Next: r.Next, Error: d, Session: m.Envelope.SessionID})
	m.addHistory(a)
}

// backoff is the wait after the n-th failed attempt: queue.retry_min
// doubled for each earlier attempt, up to queue.retry_max, with ±20%
// jitter so that messages deferred together do not retry together.
func (q *Queue) backoff(n int) time.Duration {
	d := q.set.retryMin
	for i := 1; i < n && d < q.set.retryMax; i++ {
		d *= 2
	}
	d = min(d, q.set.retryMax)
	q.mu.Lock()
	f := 0.8 + 0.4*q.rnd.Float64()
	q.mu.Unlock()
	d = time.Duration(float64(d) * f)
	return max(min(d, q.set.retryMax), q.set.retryMin)
}

// expire fails every deferred recipient of a message older than
// queue.lifetime. It reports whether anything changed.
func (q *Queue) expire(m *Message, now time.Time) bool {
	if q.set.lifetime <= 0 || now.Sub(m.Arrived) < q.set.lifetime {
		return false
	}
	changed := false
	for _, r := range m.Recipients {
		if r.State != Deferred && r.State != Pending {
			continue
		}
		last := "no attempt was made"
		if r.Error != nil {
			last = "the last attempt said: " + r.Error.Error()
		}
		d := &diag.Error{
			Component: Component,
			Op:        "expire",
			Doing:     "deliver within queue.lifetime to",
			Path:      r.Address,
			Reason:    fmt.Sprintf("gave up after %s and %s; %s", diag.HumanAge(now.Sub(m.Arrived)), diag.Count(r.Attempts, "attempt"), last),
			Class:     diag.Permanent,
			Setting:   q.cfg.Setting("queue.lifetime"),
			SMTPCode:  554,
			Enhanced:  [3]int{4, 4, 7}, // RFC 3463: delivery time expired
			Public:    "Delivery time expired",
			Ref:       diag.NewRef(),
		}
		if r.Error != nil && r.Error.Public != "" {
			d.Public = "Delivery time expired; last reply: " + r.Error.Public
		}
		if r.Error != nil {
			d.Remote = r.Error.Remote // the DSN quotes what the remote said last
		}
		r.State = Failed
		r.Next = time.Time{}
		r.Error = d
		m.addHistory(Attempt{Time: now.UTC(), Recipient: r.Address, Outcome: Failed, Error: d})
		q.count(Failed, d)
		q.log.Warn("expired", "queue_id", m.ID, "rcpt", r.Address, "age", now.Sub(m.Arrived).Round(time.Second))
		q.observe(Event{Time: now.UTC(), Kind: EvExpired, QueueID: m.ID, Recipient: r.Address, Error: d, Session: m.Envelope.SessionID})
		changed = true
	}
	return changed
}

func (m *Message) hasUnnotifiedFailure() bool {
	if m.Envelope.From == "" {
		return false
	}
	for _, r := range m.Recipients {
		if r.State == Failed && !r.Notified {
			return true
		}
	}
	return false
}

// timeHeap orders waiting entries by due time.
type timeHeap []*entry

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h timeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx = i
	h[j].hidx = j
}
func (h *timeHeap) Push(x any) {
	e := x.(*entry)
	e.hidx = len(*h)
	*h = append(*h, e)
}
func (h *timeHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	e.hidx = -1
	*h = old[:n-1]
	return e
}
