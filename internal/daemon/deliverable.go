package daemon

import (
	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
)

// deliverable is smtpd's InboundPolicy.Deliverable: the local delivery's
// own permanent checks (deliver.Refusal), asked at RCPT so that what the
// delivery would refuse is refused while the client is connected. size is
// MAIL FROM's SIZE= (0 when not declared): a mailbox whose whole quota is
// smaller is refused then; the end of DATA measures what came
// (checks_quota.go).
func (d *daemon) deliverable(res *directory.Resolution, size int64) *diag.Error {
	return deliver.Refusal(d.cfg, res, size)
}
