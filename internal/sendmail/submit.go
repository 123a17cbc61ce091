package sendmail

import (
	"context"
	"io"
	"time"

	"github.com/ebbmail/ebb/internal/pickup"
)

// Submit hands a prepared message to the daemon through drop (the pickup
// directory and its socket, internal/pickup) with the envelope options of
// o (DSN's NOTIFY, RET, ENVID). It returns once the message is durable:
// queued by the daemon, or left in the pickup directory for it.
func Submit(ctx context.Context, drop *pickup.Drop, m *Message, o *Options, now time.Time) (*pickup.Result, error) {
	env := &pickup.Envelope{From: m.Sender, Recipients: m.Recipients, BodyType: m.BodyType,
		Notify: o.Notify, Ret: o.Ret, EnvID: o.EnvID, Created: now.UTC()}
	return drop.Submit(ctx, env, func(w io.Writer) error {
		if _, err := m.Header.WriteTo(w); err != nil {
			return err
		}
		_, err := io.Copy(w, m.Body)
		return err
	})
}
