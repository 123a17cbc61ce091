package daemon

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ebbmail/ebb/internal/pickup"
	"github.com/ebbmail/ebb/internal/queue"
)

// What hands local mail to the daemon's queue: the sendmail pickup's
// handler and Sieve's outbox. They live here, not in pickup and
// sievefilter, so that ebb-deliver, which links those two, does not link
// the queue.

// pickupQueueHandler queues the sendmail pickup's submissions into q. The trace header names the
// submitting uid, which the kernel vouched for (socket) or the file system
// did (file owner): what the envelope claims about the sender is the
// user's word, the uid is not.
func pickupQueueHandler(q queue.Receiver, hostname string) pickup.Handler {
	return func(ctx context.Context, s *pickup.Submission) (string, error) {
		env := &queue.Envelope{
			From:       s.Env.From,
			Recipients: s.Env.Recipients,
			Prefix:     pickup.Received(hostname, s.UID, s.User, s.Via, time.Now()),
			ClientAddr: "local",
			ClientName: fmt.Sprintf("uid %d %s", s.UID, s.User),
			Proto:      "local",
			SessionID:  s.Via + ":" + s.Name,
			BodyType:   s.Env.BodyType,
		}
		// sendmail -N, -R, -V (RFC 3461), as SMTP's NOTIFY, RET, ENVID.
		env.RcptDSN, env.Ret, env.EnvID = queue.ParseDSNOptions(s.Env.Recipients, s.Env.Notify, s.Env.Ret, s.Env.EnvID)
		return q.Receive(ctx, env, s.Data, queue.ReceiveOptions{Via: queue.ViaPickup})
	}
}

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
