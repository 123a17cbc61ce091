package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

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
	dir     directory.Resolver
	skipped uncheck
}

func (d *daemon) loopCheckers() []checker {
	return []checker{loopChecker{dir: d.dir, skipped: d.uncheck("loop")}}
}

func (loopChecker) name() string { return "loop" }

func (c loopChecker) check(ctx context.Context, in *checkInput) (string, error) {
	m := in.Msg
	skipped := c.skipped.on(in)
	return "", eachLocal(ctx, c.dir, m.Envelope.Recipients, skipped, func(r string, res *directory.Resolution) *diag.Error {
		if m.HeaderSeen && !m.ManyDeliveredTo {
			return deliver.LoopRefusalFor(m.DeliveredTo, r, res) // as read on receive: no second reading
		}
		e, err := deliver.LoopRefusal(m.File, r, res) // 554 5.4.6, the bounce's own words
		if err != nil {
			skipped(r, "unreadable", err)
		}
		return e
	})
}

// eachLocal calls refuse for each of rcpts in a hosted domain, with its
// resolution, and returns the first refusal. A recipient the directory
// cannot answer for now is skipped: RCPT resolved it, and trouble now is
// the delivery's to report (these checks only refuse); skipped is told
// (a check not made is said: principle 7).
func eachLocal(ctx context.Context, dir directory.Resolver, rcpts []string, skipped func(rcpt, reason string, err error), refuse func(r string, res *directory.Resolution) *diag.Error) error {
	for _, r := range rcpts {
		_, domain, ok := smtpd.SplitAddress(r)
		if !ok {
			continue
		}
		local, err := dir.IsLocalDomain(ctx, domain)
		if err != nil {
			skipped(r, "directory", err)
			continue
		}
		if !local {
			continue
		}
		res, err := dir.Resolve(ctx, r)
		if err != nil {
			skipped(r, "directory", err)
			continue
		}
		if e := refuse(r, res); e != nil {
			return e
		}
	}
	return nil
}

// uncheck says an end-of-DATA check not made for a recipient (the
// directory did not answer, the message could not be measured): the
// message is let through, which is a fail-open (principle 7): a note on
// the message's record (checkInput.note, told by ebb explain), a log line
// and ebb_checks_skipped_total{check, reason}.
type uncheck struct {
	check string
	log   *slog.Logger
	count *prometheus.CounterVec // nil outside ebb serve
}

func (d *daemon) uncheck(check string) uncheck {
	return uncheck{check: check, log: d.log.With("component", check), count: d.checksSkipped}
}

// on is u for the message of in, as eachLocal's skipped.
func (u uncheck) on(in *checkInput) func(rcpt, reason string, err error) {
	return func(rcpt, reason string, err error) {
		what := map[string]string{"directory": "the directory did not answer for it", "unreadable": "the message could not be read"}[reason]
		in.note(u.check, fmt.Sprintf("%s check not made for <%s>: %s (%v); let through, the delivery checks again", u.check, rcpt, what, err))
		if u.log != nil {
			u.log.Warn(u.check+" check not made: "+what+"; the message is let through (the delivery checks again)",
				"queue_id", in.Msg.ID, "rcpt", rcpt, "reason", reason, "err", err.Error())
		}
		if u.count != nil {
			u.count.WithLabelValues(u.check, reason).Inc()
		}
	}
}
