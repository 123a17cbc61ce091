package pickup

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ebbmail/ebb/internal/queue"
)

// Spool is the part of the queue the pickup needs.
type Spool interface {
	Receive(ctx context.Context, env *queue.Envelope, data io.Reader) (string, error)
}

// QueueHandler queues submissions into q. The trace header names the
// submitting uid, which the kernel vouched for (socket) or the file system
// did (file owner): what the envelope claims about the sender is the
// user's word, the uid is not.
func QueueHandler(q Spool, hostname string) Handler {
	return func(ctx context.Context, s *Submission) (string, error) {
		env := &queue.Envelope{
			From:       s.Env.From,
			Recipients: s.Env.Recipients,
			Prefix:     Received(hostname, s.UID, s.User, s.Via, time.Now()),
			ClientAddr: "local",
			ClientName: fmt.Sprintf("uid %d %s", s.UID, s.User),
			Proto:      "local",
			SessionID:  s.Via + ":" + s.Name,
			BodyType:   s.Env.BodyType,
		}
		// sendmail -N, -R, -V (RFC 3461), as SMTP's NOTIFY, RET, ENVID.
		env.RcptDSN, env.Ret, env.EnvID = queue.ParseDSNOptions(s.Env.Recipients, s.Env.Notify, s.Env.Ret, s.Env.EnvID)
		return q.Receive(ctx, env, s.Data)
	}
}

// Received is the trace field for a local submission (RFC 5321 §4.4), in
// the form Postfix writes for its sendmail: no "from" clause, because no
// network peer exists, and the uid in the comment.
func Received(hostname string, uid int, user, via string, now time.Time) string {
	who := fmt.Sprintf("from userid %d", uid)
	if user != "" {
		who += " " + user
	}
	return fmt.Sprintf("Received: by %s (ebb sendmail via %s, %s)\r\n\twith LOCAL; %s\r\n", hostname, via, who, now.Format(time.RFC1123Z))
}
