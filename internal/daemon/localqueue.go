package daemon

import (
	"context"
	"io"

	"github.com/ebbmail/ebb/internal/queue"
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
	// addresses (docs/srs.md). Vacation replies (sender <>) pass as they are.
	Sender func(ctx context.Context, sender string, rcpts []string) string
}

func (o sieveOutbox) Send(ctx context.Context, sender string, rcpts []string, data io.Reader) (string, error) {
	if o.Sender != nil {
		sender = o.Sender(ctx, sender, rcpts)
	}
	return o.Q.Receive(ctx, &queue.Envelope{From: sender, Recipients: rcpts, Proto: "local"}, data, queue.ReceiveOptions{})
}
