package queue

import (
	"strings"

	"github.com/ebbmail/ebb/internal/diag"
)

// counters are the queue's running totals since Open. Guarded by Queue.mu.
type counters struct {
	received  uint64
	outcomes  map[State]uint64
	deferrals map[string]uint64
	failures  map[string]uint64
	// dsnIncomplete counts DSNs queued with an incomplete returned header.
	dsnIncomplete uint64
}

// Stats is a snapshot for metrics: the daemon exports it to Prometheus
// (queue depth by state as gauges, the rest as counters).
type Stats struct {
	// Messages is the number of messages in the queue; Held of them held.
	Messages int
	Held     int
	// Depth is the number of recipients in the queue by state (pending,
	// deferred; delivered and failed ones of messages still queued).
	Depth map[State]int
	// Received counts messages accepted since Open (DSNs included).
	Received uint64
	// Flushes counts the group-commit flushes that made received messages
	// durable (syncfs, or the directory fsync with queue.sync = "files");
	// with "filesystem" they also cover the deliveries sharing them
	// (SharedFlush). Flushes/Received says how many messages one covers.
	Flushes uint64
	// Deliveries counts attempts by outcome: delivered, deferred, failed.
	Deliveries map[State]uint64
	// Deferrals counts deferred attempts by reason class (ReasonClass).
	Deferrals map[string]uint64
	// Failures counts permanent failures (and expiries) by reason class.
	Failures map[string]uint64
	// DSNHeaderIncomplete counts DSNs queued whose returned header is
	// incomplete: the message's header could not be read.
	DSNHeaderIncomplete uint64
}

// Stats returns the current counts.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := Stats{
		Depth:               map[State]int{Pending: 0, Deferred: 0, Delivered: 0, Failed: 0},
		Received:            q.stats.received,
		DSNHeaderIncomplete: q.stats.dsnIncomplete,
		Flushes:             q.dsync.Flushes(),
		Deliveries:          map[State]uint64{Delivered: 0, Deferred: 0, Failed: 0},
		Deferrals:           map[string]uint64{},
		Failures:            map[string]uint64{},
	}
	for _, e := range q.entries {
		if e.removed {
			continue
		}
		s.Messages++
		if e.held {
			s.Held++
		}
		for st, n := range e.counts {
			s.Depth[st] += n
		}
	}
	for k, v := range q.stats.outcomes {
		s.Deliveries[k] = v
	}
	for k, v := range q.stats.deferrals {
		s.Deferrals[k] = v
	}
	for k, v := range q.stats.failures {
		s.Failures[k] = v
	}
	return s
}

func (q *Queue) count(outcome State, d *diag.Error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stats.outcomes == nil {
		q.stats.outcomes = map[State]uint64{}
		q.stats.deferrals = map[string]uint64{}
		q.stats.failures = map[string]uint64{}
	}
	q.stats.outcomes[outcome]++
	switch outcome {
	case Deferred:
		q.stats.deferrals[ReasonClass(d)]++
	case Failed:
		q.stats.failures[ReasonClass(d)]++
	}
}

// ReasonClass is a short, bounded label for a failure, for metrics: the
// errno in lower case when there is one (eacces, enospc), else the
// operation (relay, expire, lookup, deliver), else "other".
func ReasonClass(d *diag.Error) string {
	if d == nil {
		return "other"
	}
	if d.Errno != "" {
		return strings.ToLower(d.Errno)
	}
	if d.SMTPCode != 0 && d.Op == "" {
		return "smtp_" + string(rune('0'+d.SMTPCode/100)) + "xx"
	}
	if d.Op != "" {
		return sanitizeLabel(d.Op)
	}
	return "other"
}

func sanitizeLabel(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 32 {
			break
		}
	}
	return b.String()
}
