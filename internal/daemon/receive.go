package daemon

import (
	"context"
	"io"
	"log/slog"

	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/smtpd"
	"github.com/ebbmail/ebb/internal/srs"
)

// spoolAdapter hands SMTP transactions to the queue, with the checks that
// judge a message after DATA and before the reply (checks.go).
type spoolAdapter struct {
	q      *queue.Queue
	checks []checker
	srs    *srs.Rewriter // bounces to SRS addresses go to the original sender (srs.go)
	log    *slog.Logger
	jr     *journalRecorder // nil when the journal is off
}

func (a spoolAdapter) Receive(ctx context.Context, m *smtpd.Message, data io.Reader) (string, error) {
	env := &queue.Envelope{
		From:       m.From,
		Recipients: m.Recipients,
		Prefix:     string(m.Prefix),
		ClientAddr: m.RemoteIP,
		ClientHelo: m.Helo,
		AuthUser:   m.AuthUser,
		Proto:      m.Protocol(),
		SessionID:  m.ConnID,
		BodyType:   m.Body,
		SMTPUTF8:   m.SMTPUTF8,
		Ret:        m.Ret,
		EnvID:      m.EnvID,
		RequireTLS: m.RequireTLS,
		RcptDSN:    rcptDSN(m.Rcpt),
	}
	if a.srs != nil {
		srsReverse(a.srs, env, a.log.Info)
	}
	if len(a.checks) > 0 || a.jr != nil {
		in := checkInput{Kind: m.Kind, TLS: m.TLS}
		env.Check = func(ctx context.Context, qm *queue.Message) (string, error) {
			in.Msg = qm
			h, err := runChecks(ctx, a.checks, &in)
			a.jr.checked(qm, string(m.Kind), h, err) // the journal: verdicts, or the refusal
			return h, err
		}
	}
	return a.q.Receive(ctx, env, data)
}

// rcptDSN carries the RCPT DSN parameters (NOTIFY, ORCPT) into the queue.
func rcptDSN(in map[string]smtpd.RcptParams) map[string]queue.RecipientDSN {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]queue.RecipientDSN, len(in))
	for a, p := range in {
		out[a] = queue.RecipientDSN{Notify: p.Notify, ORCPTType: p.ORCPTType, ORCPT: p.ORCPT}
	}
	return out
}
