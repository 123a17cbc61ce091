package smtpd

import (
	"github.com/ebbmail/ebb/internal/queue"
)

// The hand-off of an accepted transaction is the queue's, as for every
// receiver (queue.Receiver): the session builds the queue envelope
// (envelope below) and gives, beside it, the listener's kind (Via) and
// TLS, by which the daemon chooses and feeds its checks. The receiver
// reads the data to its end and returns only once message and envelope
// are durable (or with an error). The session watches the reader itself,
// so it tells the client's trouble (too big, connection lost) from ours
// however the error is wrapped; an error of ours should be a *diag.Error.

// envelope is the queue envelope of the session's transaction, with the
// trace header block as its prefix (written before the message at
// delivery: the spool file holds the data exactly as received and is
// never rewritten).
func (s *session) envelope(prefix []byte) *queue.Envelope {
	return &queue.Envelope{
		From:       s.from,
		Recipients: append([]string(nil), s.rcpts...),
		Prefix:     string(prefix),
		ClientAddr: s.info.RemoteIP,
		ClientHelo: s.info.Helo,
		AuthUser:   s.info.AuthUser,
		Proto:      ProtocolName(&s.info, s.mailOpts.UTF8),
		SessionID:  s.c.id,
		BodyType:   s.mailOpts.Body,
		SMTPUTF8:   s.mailOpts.UTF8,
		Ret:        s.mailOpts.Ret,
		EnvID:      s.mailOpts.EnvID,
		RequireTLS: s.mailOpts.RequireTLS,
		RcptDSN:    s.rcptDSN,
	}
}
