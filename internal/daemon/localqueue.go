package daemon

import (
	"context"
	"io"

	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/sievefilter"
)

// Sieve's outbox into the daemon's queue. It lives here, not in
// sievefilter, so that ebb-deliver, which links sievefilter, does not link
// the queue (the sendmail pickup's server is internal/pickupd, which
// ebb-deliver does not link).

// sieveOutbox is the Sieve outbox of the daemon: its own queue
// (ebb deliver, without one, uses sievefilter.PickupOutbox).
type sieveOutbox struct {
	Q *queue.Queue
	// Sender, when set, gives the envelope sender of a message that
	// leaves for rcpts: the daemon's SRS rewrite for redirects to remote
	// addresses (docs/srs.md), and the options the copy is queued with (a
	// journal record when its sender was not rewritten, or when a
	// vacation reply's :from was replaced: sievefilter.Note). Vacation
	// replies (sender <>) pass as they are.
	Sender func(ctx context.Context, sender string, rcpts []string) (string, queue.ReceiveOptions)
}

func (o sieveOutbox) Send(ctx context.Context, sender string, rcpts []string, data io.Reader) (string, error) {
	var opt queue.ReceiveOptions
	if o.Sender != nil {
		sender, opt = o.Sender(ctx, sender, rcpts)
	}
	env := &queue.Envelope{From: sender, Recipients: rcpts, Proto: "local"}
	// A redirect of mail from outside is still mail from outside: the
	// relay does not sign it (queue.Envelope.External). A vacation
	// response is ours.
	env.External = sievefilter.Resent(ctx) && deliveringExternal(ctx)
	return o.Q.Receive(ctx, env, data, opt)
}

type deliveringKey struct{}

// withExternal marks ctx as the delivery of m, for what Sieve resends of
// it: whether m came from outside (queue.Envelope.External), and its From:
// for SRS (srsSender).
func withExternal(ctx context.Context, m *queue.Message) context.Context {
	return context.WithValue(ctx, deliveringKey{}, m)
}

// deliveringMessage is the message ctx delivers (withExternal), or nil.
func deliveringMessage(ctx context.Context) *queue.Message {
	m, _ := ctx.Value(deliveringKey{}).(*queue.Message)
	return m
}

func deliveringExternal(ctx context.Context) bool {
	m := deliveringMessage(ctx)
	return m != nil && m.Envelope.External
}
