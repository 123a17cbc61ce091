package daemon

import (
	"context"
	"log/slog"

	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
)

// deliverable is smtpd's InboundPolicy.Deliverable: the local delivery's
// own permanent checks (deliver.Refusal), asked at RCPT so that what the
// delivery would refuse is refused while the client is connected. size is
// MAIL FROM's SIZE= (0 when not declared): a mailbox whose whole quota is
// smaller is refused then; the end of DATA measures what came
// (checks_quota.go). Where a quota may decide (a declared size, or
// mail.over_quota = "permanent"), the mailboxes are read as the directory
// holds them now (deliver.Fresh: a change check, not a query), not as the
// resolution cache remembers them: a raised or removed quota stops
// refusing at once, and one set where there was none refuses at once (the
// cached resolution, without it, cannot say that no quota matters).
func (d *daemon) deliverable(res *directory.Resolution, size int64) *diag.Error {
	if size > 0 || d.cfg.Mail.OverQuota == "permanent" {
		// smtpd's hook has no context; the read is bounded by
		// directory.busy_timeout. No record exists yet at RCPT: the log
		// and the metric say a cached quota decided.
		res = deliver.Fresh(context.Background(), d.dir, res, cachedQuota(d.slog(), d.quotaCached, "rcpt", nil, "component", "quota", "rcpt", res.Address))
	}
	return deliver.RefusalUnless(d.cfg, res, size, d.sieveFiltered)
}

// sieveFiltered reports whether mb has Sieve scripts, which may discard or
// redirect what its quota would refuse: RCPT leaves its quota to the end
// of DATA, where the scripts run on the message (checks_quota.go).
func (d *daemon) sieveFiltered(mb *directory.Mailbox) bool {
	f := d.dryRunSieve()
	return f != nil && f.HasScripts(mb)
}

// slog is d's logger, nil when d has none (a test's daemon).
func (d *daemon) slog() *slog.Logger {
	if d.log == nil {
		return nil
	}
	return d.log.Logger
}
