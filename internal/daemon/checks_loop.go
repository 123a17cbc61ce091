package daemon

import (
	"context"

	"github.com/ebbmail/ebb/internal/deliver"
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
	for _, r := range m.Envelope.Recipients {
		_, domain, ok := smtpd.SplitAddress(r)
		if !ok {
			continue
		}
		if local, err := c.dir.IsLocalDomain(ctx, domain); err != nil || !local {
			continue
		}
		res, err := c.dir.Resolve(ctx, r)
		if err != nil {
			continue // RCPT resolved it; trouble now is the delivery's to report
		}
		if e := deliver.LoopRefusal(m.File, r, res); e != nil {
			return "", e // 554 5.4.6, the bounce's own words
		}
	}
	return "", nil
}
