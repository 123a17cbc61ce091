package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/pickup"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/scan"
)

// Mailq is ebb mailq (and ebb queue list): this host's queue read from
// its spool files, so that it works whether the daemon runs or not
// (queue.WriteMailq). When the spool is closed to the caller (it is
// server.user's, 0700), the running daemon tells it over the pickup
// socket, as for sendmail -bp. In words (not JSON) it goes on with the
// scanners the daemon is not asking (their breakers are open) and, with
// several hosts, the other hosts' queues. The error is a *diag.Error.
func Mailq(ctx context.Context, w io.Writer, cfg *config.Config, asJSON bool, now time.Time) error {
	err := queue.WriteMailq(w, cfg, asJSON, now)
	if errors.Is(err, fs.ErrPermission) && !asJSON {
		// Asked once, within one timeout (a hung daemon costs no more).
		derr := pickup.Mailq(ctx, cfg.PickupDir(), cfg.Sendmail.Socket, w, mailqTimeout)
		if derr == nil {
			return nil
		}
		d := diag.From(err, "ebb mailq", "")
		d.Reason += fmt.Sprintf("; nor did the daemon tell it over %s: %v", pickup.SocketPath(cfg.PickupDir(), cfg.Sendmail.Socket), derr)
		return d
	}
	if err != nil {
		return diag.From(err, "ebb mailq", "")
	}
	if !asJSON {
		scan.WriteBreakerNotes(w, filepath.Join(cfg.Server.DataDir, scan.BreakerFile), now)
		WriteOtherQueues(ctx, w, cfg)
	}
	return nil
}

// mailqTimeout bounds the daemon's answer to a mailq.
const mailqTimeout = 30 * time.Second
