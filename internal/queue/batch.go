package queue

import (
	"context"
	"errors"
)

// BatchTransport is a Transport that takes several recipients of one
// message at once: the relay sends the recipients of one destination in
// one SMTP transaction (RFC 5321 §3.3), the data once, instead of one
// transaction per recipient. The scheduler gives it every due remote
// recipient of a message in one call.
type BatchTransport interface {
	Transport
	// DeliverBatch delivers msg to rcpts; errs[i] is rcpts[i]'s result,
	// as Deliver's error would be. It may set Done and Relay on them.
	DeliverBatch(ctx context.Context, msg *Message, rcpts []*Recipient) (errs []error)
}

// attemptAll attempts every due recipient of m: local ones one by one,
// remote ones together when the remote transport is a BatchTransport. It
// reports whether anything was attempted.
func (q *Queue) attemptAll(ctx context.Context, t Transports, m *Message, due []*Recipient) bool {
	bt, batch := t.Remote.(BatchTransport)
	changed := false
	var remote []*Recipient
	for _, r := range due {
		if ctx.Err() != nil {
			return changed // shutting down: the rest keep their state for the restart
		}
		start := q.now()
		route := Local
		var err error
		if t.Route != nil {
			route, err = t.Route(ctx, r.Address)
		}
		if batch && err == nil && route == Remote {
			remote = append(remote, r)
			continue
		}
		q.attemptRouted(ctx, t, m, r, route, err, start)
		changed = true
	}
	if len(remote) == 0 || ctx.Err() != nil {
		return changed
	}
	start := q.now()
	snaps := make([]*Recipient, len(remote))
	for i, r := range remote {
		s := *r
		snaps[i] = &s
	}
	actx, cancel := context.WithTimeout(ctx, q.set.attemptTimeout)
	// A nil error after a cancellation still means delivered: the
	// transport says so, and retrying would make a duplicate.
	errs := bt.DeliverBatch(actx, m, snaps)
	cancel()
	for i, r := range remote {
		r.Done, r.Relay = snaps[i].Done, snaps[i].Relay
		err := errors.New("the remote transport gave no result for this recipient")
		if i < len(errs) {
			err = errs[i]
		}
		q.record(ctx, m, r, Remote, start, err)
	}
	return true
}
