package daemon

import (
	"context"
	"io"
	"log/slog"

	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/smtpd"
	"github.com/ebbmail/ebb/internal/srs"
)

// receiver is the daemon's queue.Receiver, the one hand-off of every
// receiver (the SMTP server, the sendmail pickup, fetch): the queue with
// the checks that judge a message after its data and before the reply
// (checks.go), chosen by how it came (queue.ReceiveOptions.Via):
//
//   - SMTP (inbound, submission, submissions): the loop check, message
//     authentication and the scanners (smtp); SRS addresses of ours among
//     the recipients are reversed (srs.go); the journal is told the
//     verdicts, or the refusal.
//   - fetch: the loop check and the scanners (fetch): message
//     authentication is for SMTP clients, and a fetched message has none
//     to judge.
//   - the pickup and ebb's own mail: none.
type receiver struct {
	q           *queue.Queue
	smtp, fetch []checker
	srs         *srs.Rewriter // bounces to SRS addresses go to the original sender
	log         *slog.Logger
	jr          *journalRecorder // nil when the journal is off
}

// newReceiver is the daemon's receiver, with smtp as the checks of SMTP
// mail (none when the daemon runs no SMTP server: ebb fetch run).
func (d *daemon) newReceiver(smtp []checker) *receiver {
	return &receiver{q: d.q, smtp: smtp, fetch: append(d.loopCheckers(), d.scanCheckers()...),
		srs: d.srs, log: d.log.Logger, jr: d.jr}
}

func (a *receiver) Receive(ctx context.Context, env *queue.Envelope, data io.Reader, opt queue.ReceiveOptions) (string, error) {
	in := checkInput{TLS: opt.TLS}
	var checks []checker
	journal := false
	switch opt.Via {
	case queue.ViaInbound, queue.ViaSubmission, queue.ViaSubmissions:
		in.Kind, checks, journal = smtpd.Kind(opt.Via), a.smtp, a.jr != nil
		if a.srs != nil {
			srsReverse(a.srs, env, a.log.Info)
		}
	case queue.ViaFetch:
		checks = a.fetch
	}
	if len(checks) > 0 || journal {
		own := opt.Check
		opt.Check = func(ctx context.Context, qm *queue.Message) (string, error) {
			in.Msg = qm
			h, err := runChecks(ctx, checks, &in)
			if err == nil && own != nil {
				var more string
				more, err = own(ctx, qm)
				h += more
			}
			if journal {
				a.jr.checked(qm, opt.Via, h, in.Notes, err) // the journal: verdicts and notes, or the refusal
			}
			return h, err
		}
	}
	return a.q.Receive(ctx, env, data, opt)
}
