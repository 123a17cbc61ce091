package daemon

import (
	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
)

// deliverable is smtpd's InboundPolicy.Deliverable: the local delivery's
// own permanent checks (deliver.Refusal), asked at RCPT so that what the
// delivery would refuse is refused while the client is connected.
func (d *daemon) deliverable(res *directory.Resolution) *diag.Error {
	return deliver.Refusal(d.cfg, res)
}
