package daemon

import (
	"context"

	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// loopChecker refuses at the end of DATA a message that the local delivery
// would find looping (it already carries a Delivered-To of one of its
// local recipients' mailboxes) and bounce: deliver.LoopRefusal is that same
// check. Remote recipients are left to the relay.
type loopChecker struct {
	dir directory.Resolver
}

func (d *daemon) loopCheckers() []checker { return []checker{loopChecker{dir: d.dir}} }

func (loopChecker) name() string { return "loop" }

func (c loopChecker) check(ctx context.Context, in *checkInput) (string, error) {
	m := in.Msg
	return "", eachLocal(ctx, c.dir, m.Envelope.Recipients, func(r string, res *directory.Resolution) *diag.Error {
		if m.HeaderSeen && !m.ManyDeliveredTo {
			return deliver.LoopRefusalFor(m.DeliveredTo, r, res) // as read on receive: no second reading
		}
		return deliver.LoopRefusal(m.File, r, res) // 554 5.4.6, the bounce's own words
	})
}

// eachLocal calls refuse for each of rcpts in a hosted domain, with its
// resolution, and returns the first refusal. A recipient the directory
// cannot resolve now is skipped: RCPT resolved it, and trouble now is the
// delivery's to report (these checks only refuse).
func eachLocal(ctx context.Context, dir directory.Resolver, rcpts []string, refuse func(r string, res *directory.Resolution) *diag.Error) error {
	for _, r := range rcpts {
		_, domain, ok := smtpd.SplitAddress(r)
		if !ok {
			continue
		}
		if local, err := dir.IsLocalDomain(ctx, domain); err != nil || !local {
			continue
		}
		res, err := dir.Resolve(ctx, r)
		if err != nil {
			continue
		}
		if e := refuse(r, res); e != nil {
			return e
		}
	}
	return nil
}
