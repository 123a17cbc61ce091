package queue

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Op is an operator's action on queued messages (`ebb queue ...`).
type Op string

const (
	// OpFlush retries every deferred recipient now.
	OpFlush Op = "flush"
	// OpHold stops delivery attempts until OpRelease.
	OpHold Op = "hold"
	// OpRelease undoes OpHold and retries at once.
	OpRelease Op = "release"
	// OpDelete removes messages without a bounce (postsuper -d).
	OpDelete Op = "delete"
	// OpRequeue makes every undelivered recipient pending again with a
	// fresh backoff (attempts counted from zero), due now; the lifetime
	// still counts from arrival.
	OpRequeue Op = "requeue"
)

// ValidOp reports whether op is one the queue knows.
func ValidOp(op Op) bool {
	switch op {
	case OpFlush, OpHold, OpRelease, OpDelete, OpRequeue:
		return true
	}
	return false
}

// OpResult is the outcome of an Op on one message.
type OpResult struct {
	ID    string `json:"id"`
	Error string `json:"error,omitempty"`
}

// Done counts the results without an error.
func Done(res []OpResult) int {
	n := 0
	for _, r := range res {
		if r.Error == "" {
			n++
		}
	}
	return n
}

// Do applies op to the messages ids (all messages when ids is empty, which
// only OpFlush allows) and stores the change durably, so that it survives
// a restart.
func (q *Queue) Do(op Op, ids []string) ([]OpResult, error) {
	if !ValidOp(op) {
		return nil, fmt.Errorf("unknown queue operation %q", op)
	}
	if len(ids) == 0 {
		if op != OpFlush {
			return nil, fmt.Errorf("queue %s needs at least one queue id", op)
		}
		q.mu.Lock()
		if q.resume != nil {
			// Flushing everything revives every suspended destination
			// too (as Postfix's flush does), or the retries would meet
			// "suspended" at once.
			resume := q.resume
			q.mu.Unlock()
			resume("")
			q.mu.Lock()
		}
		for id, e := range q.entries {
			if !e.removed {
				ids = append(ids, id)
			}
		}
		q.mu.Unlock()
		sort.Strings(ids)
	}
	var res []OpResult
	for _, id := range ids {
		id = strings.ToUpper(strings.TrimSpace(id))
		r := OpResult{ID: id}
		if err := q.do(op, id); err != nil {
			r.Error = err.Error()
		}
		res = append(res, r)
	}
	return res, nil
}

// Flush retries the deferred recipients of ids now (all messages when none).
func (q *Queue) Flush(ids ...string) ([]OpResult, error) { return q.Do(OpFlush, ids) }

// Hold stops delivery attempts for id until Release.
func (q *Queue) Hold(id string) error { return firstErr(q.Do(OpHold, []string{id})) }

// Release lets a held message be delivered again, at once.
func (q *Queue) Release(id string) error { return firstErr(q.Do(OpRelease, []string{id})) }

// Delete removes a message without a bounce.
func (q *Queue) Delete(id string) error { return firstErr(q.Do(OpDelete, []string{id})) }

// Requeue makes every undelivered recipient of id pending again.
func (q *Queue) Requeue(id string) error { return firstErr(q.Do(OpRequeue, []string{id})) }

func firstErr(res []OpResult, err error) error {
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Error != "" {
			return fmt.Errorf("%s: %s", r.ID, r.Error)
		}
	}
	return nil
}

func (q *Queue) do(op Op, id string) error {
	q.mu.Lock()
	e := q.entries[id]
	if e == nil || e.removed {
		q.mu.Unlock()
		return fmt.Errorf("no message %s in the queue", id)
	}
	if op == OpFlush || op == OpRelease {
		// A round in progress sees this when it ends and goes again.
		e.flush = true
	}
	q.mu.Unlock()

	// Waits for a round in progress (at most queue.attempt_timeout).
	e.mu.Lock()
	m := e.msg
	if m == nil {
		e.mu.Unlock()
		if op == OpFlush {
			// The round we waited for went again for the flush and
			// finished the message: flushed.
			return nil
		}
		return fmt.Errorf("no message %s in the queue", id)
	}
	now := q.now().UTC()
	changed := false
	switch op {
	case OpFlush:
		// With Run going, only in memory: a flush asks to try now, and
		// the round that follows stores the outcome. Writing each
		// envelope first made flushing a large queue one fsync per
		// message, serially, before the retries could start
		// (bench/relay). Without Run the files are all there is.
		q.mu.Lock()
		running := q.running
		q.mu.Unlock()
		for _, r := range m.Recipients {
			if r.State == Deferred && r.Next.After(now) {
				r.Next = now
				changed = !running
			}
		}
	case OpHold:
		changed = !m.Held
		m.Held = true
	case OpRelease:
		changed = m.Held
		m.Held = false
		for _, r := range m.Recipients {
			if r.State == Deferred && r.Next.After(now) {
				r.Next = now
				changed = true
			}
		}
	case OpRequeue:
		for _, r := range m.Recipients {
			if r.State == Deferred || r.State == Pending {
				r.State = Pending
				r.Attempts = 0
				r.Next = time.Time{}
				changed = true
			}
		}
	case OpDelete:
		if err := q.remove(m); err != nil {
			e.mu.Unlock()
			return fmt.Errorf("remove: %w", err)
		}
		e.msg = nil
		e.mu.Unlock()
		q.forget(e)
		q.log.Info("removed", "queue_id", id, "status", "deleted by the operator")
		q.observe(Event{Kind: EvRemoved, QueueID: id, Note: "deleted by the operator", Session: m.Envelope.SessionID})
		return nil
	}
	if changed {
		if err := q.persist(m); err != nil {
			e.mu.Unlock()
			return fmt.Errorf("store the change: %w", err)
		}
	}
	held := m.Held
	due := m.nextDue(q.now())
	counts := m.counts()
	e.mu.Unlock()

	q.mu.Lock()
	e.held = held
	e.counts = counts
	if op == OpHold {
		e.flush = false
	}
	q.scheduleLocked(e, due)
	q.mu.Unlock()
	q.log.Info("queue operation", "queue_id", id, "op", string(op))
	q.observe(Event{Kind: EvOperation, QueueID: id, Note: string(op) + " by the operator"})
	return nil
}
