package smtpd

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ebbmail/ebb/internal/policy"
)

// The journal's bound on refusals. Every ref a client gets opens its
// story in ebb explain (principle 1), but a client can be refused at its
// own rate: a connection flood, a password-guessing run, RCPT after RCPT
// to unknown users. One journal record (and one log line) per refusal
// would grow the journal at the attacker's rate. So:
//
//   - refusals of the same kind (stage, reason, listener) from the same
//     source (an IPv4 address, an IPv6 /64) within shareWindow of the
//     first share its ref: the first is journaled and logged in full, and
//     when the window ends (or ebb serve stops) one follow-up record says
//     how many refusals the ref covered, from when to when;
//   - at most newRecordsPerSecond refusals a second, across all sources,
//     open a ref of their own, after a burst of newRecordsBurst (a token
//     bucket: a burst of legitimate refusals, or 30 guessers locking an
//     account out at once, keeps its own refs); beyond that, a new one
//     takes the one "flood" ref of the window, whose record says so (and
//     is followed up the same way).
//
// The metric ebb_smtp_refusals_total counts every refusal, shared or not.
// A verdict after DATA is not bound here: it has a queue id and is
// journaled with it (internal/daemon), one per message the client sent in
// full.

const (
	// shareWindow is how long a ref is shared by refusals of its kind
	// from its source.
	shareWindow = 60 * time.Second
	// newRecordsPerSecond bounds the refusals, across all sources, that
	// open a ref (a record) of their own in one second, after a burst of
	// newRecordsBurst.
	newRecordsPerSecond = 20
	newRecordsBurst     = 200
)

// sharedRef is one ref and the refusals that took it.
type sharedRef struct {
	first Refusal // as observed, its Err.Ref the ref
	last  time.Time
	end   time.Time // the end of the window
	n     int       // refusals that took the ref, the first included
	flood bool
}

type boundKey struct{ kind, source string }

// refusalBound decides which refusals are journaled (see above).
type refusalBound struct {
	now       func() time.Time
	window    time.Duration
	perSecond int
	burst     int

	mu    sync.Mutex
	open  map[boundKey]*sharedRef
	flood *sharedRef
	// tokens are the new records that may be made now, refilled at
	// perSecond up to burst; filled is when they were counted.
	tokens float64
	filled time.Time
	next   time.Time // the earliest end of an open window
}

func newRefusalBound(now func() time.Time) *refusalBound {
	if now == nil {
		now = time.Now
	}
	return &refusalBound{now: now, window: shareWindow, perSecond: newRecordsPerSecond, burst: newRecordsBurst,
		tokens: newRecordsBurst, open: map[boundKey]*sharedRef{}}
}

// source is the unit refusals are shared by: an IPv4 address, an IPv6 /64
// (policy.SourceKey, the unit every per-client count uses).
func source(ip string) string { return policy.SourceKey(ip) }

// take places r (r.Err.Ref its own new ref, r.Time now) under the bound:
// it returns the ref the client is told, whether r is the first of that
// ref (to be observed and logged in full), whether the ref is the flood
// ref; done are the follow-ups of windows that ended, to be observed too.
func (b *refusalBound) take(kind string, r Refusal) (ref string, first, flood bool, done []Refusal) {
	now := r.Time
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.next.IsZero() && !now.Before(b.next) {
		done = b.expireLocked(now, false)
	}
	k := boundKey{kind: string(r.Kind) + " " + kind, source: source(r.RemoteIP)}
	if e := b.open[k]; e != nil {
		e.n++
		e.last = now
		return e.first.Err.Ref, false, false, done
	}
	if !b.filled.IsZero() && now.After(b.filled) {
		b.tokens = min(float64(b.burst), b.tokens+now.Sub(b.filled).Seconds()*float64(b.perSecond))
	}
	if b.filled.IsZero() || now.After(b.filled) {
		b.filled = now
	}
	if b.tokens < 1 {
		// Over the bound: the flood ref of the window, for any kind and
		// source (not kept by key, so that the map cannot grow with
		// the sources).
		if b.flood != nil {
			b.flood.n++
			b.flood.last = now
			return b.flood.first.Err.Ref, false, true, done
		}
		r.Flood = true
		b.flood = b.openLocked(r)
		return r.Err.Ref, true, true, done
	}
	b.tokens--
	b.open[k] = b.openLocked(r)
	return r.Err.Ref, true, false, done
}

func (b *refusalBound) openLocked(r Refusal) *sharedRef {
	e := &sharedRef{first: r, last: r.Time, end: r.Time.Add(b.window), n: 1, flood: r.Flood}
	if b.next.IsZero() || e.end.Before(b.next) {
		b.next = e.end
	}
	return e
}

// expire returns the follow-ups of the windows ended at now (all: every
// window, as ebb serve stops).
func (b *refusalBound) expire(now time.Time, all bool) []Refusal {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.expireLocked(now, all)
}

func (b *refusalBound) expireLocked(now time.Time, all bool) []Refusal {
	var out []Refusal
	b.next = time.Time{}
	keep := func(e *sharedRef) bool {
		if all || !now.Before(e.end) {
			if e.n > 1 {
				out = append(out, followUp(e))
			}
			return false
		}
		if b.next.IsZero() || e.end.Before(b.next) {
			b.next = e.end
		}
		return true
	}
	for k, e := range b.open {
		if !keep(e) {
			delete(b.open, k)
		}
	}
	if b.flood != nil && !keep(b.flood) {
		b.flood = nil
	}
	return out
}

// followUp is the record of how many refusals e's ref covered: the first
// refusal's fields, Count and First set, Time the last refusal.
func followUp(e *sharedRef) Refusal {
	f := e.first
	f.First, f.Time, f.Count = e.first.Time, e.last, e.n
	return f
}

// refusal gives r, with the reply rep (carrying r.Err.Ref), to the
// observer within the bound: it returns the reply to send — rep, or rep
// with the ref it shares with earlier refusals of its kind from its
// source — and whether r is the first of its ref, observed in full (the
// caller logs only those).
func (s *Server) refusal(kind string, r Refusal, rep *Reply) (*Reply, bool) {
	if r.Time.IsZero() {
		r.Time = s.bound.now()
	}
	ref, first, flood, done := s.bound.take(kind, r)
	s.followUps(done)
	switch {
	case !first && flood:
		s.metrics.Refusal(r.Stage, "flood")
		return replaceRef(rep, ref), false
	case !first:
		s.metrics.Refusal(r.Stage, "shared")
		return replaceRef(rep, ref), false
	case flood:
		r.Flood = true
		s.metrics.Refusal(r.Stage, "flood")
		s.log.Warn("smtp refusals over the journal's bound: further refusals share one ref", "ref", ref,
			"per_second", s.bound.perSecond, "until", r.Time.Add(s.bound.window).UTC().Format(time.RFC3339))
	default:
		s.metrics.Refusal(r.Stage, "new")
	}
	if s.onRefusal != nil {
		s.onRefusal(r)
	}
	return rep, true
}

// followUps observes and logs the follow-ups of ended windows.
func (s *Server) followUps(done []Refusal) {
	for _, f := range done {
		s.log.Info("smtp refusals shared a ref", "ref", f.Err.Ref, "stage", f.Stage, "remote", f.RemoteIP,
			"count", f.Count, "first", f.First.UTC().Format(time.RFC3339), "last", f.Time.UTC().Format(time.RFC3339), "flood", f.Flood)
		if s.onRefusal != nil {
			s.onRefusal(f)
		}
	}
}

// sweepRefusals writes the follow-ups of ended windows until stop is
// closed, then of every window.
func (s *Server) sweepRefusals(stop <-chan struct{}) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.followUps(s.bound.expire(s.bound.now(), false))
		case <-stop:
			return
		}
	}
}

// replaceRef is rep with ref as its reference id.
func replaceRef(rep *Reply, ref string) *Reply {
	i := strings.LastIndex(rep.Message, " (ref ")
	if i < 0 || !strings.HasSuffix(rep.Message, ")") || rep.Message[i+len(" (ref "):len(rep.Message)-1] == ref {
		return rep
	}
	c := *rep
	c.Message = rep.Message[:i] + " (ref " + ref + ")"
	return &c
}

// replyKind is what tells refusals of one kind apart for the bound: the
// stage, the code and the reply's words without the addresses in <>, the
// names (a word with a dot or an @: a domain refused relay) and its ref,
// so that RCPT after RCPT to unknown users, or relay probes to domain
// after domain, are one kind each.
func replyKind(stage string, rep *Reply) string {
	var b strings.Builder
	b.WriteString(stage)
	b.WriteByte(' ')
	fmt.Fprintf(&b, "%d %d.%d.%d", rep.Code, rep.Enhanced[0], rep.Enhanced[1], rep.Enhanced[2])
	msg := rep.Message
	if i := strings.LastIndex(msg, " (ref "); i >= 0 {
		msg = msg[:i]
	}
	inAngle := false
	for _, w := range strings.Fields(msg) {
		if inAngle { // the rest of an address with a space in it
			inAngle = !strings.Contains(w, ">")
			continue
		}
		b.WriteByte(' ')
		switch {
		case strings.HasPrefix(w, "<"):
			inAngle = !strings.Contains(w, ">")
			b.WriteString("<>")
		case strings.ContainsAny(w, ".@"):
			b.WriteString("_")
		default:
			b.WriteString(w)
		}
	}
	return b.String()
}
