package sendmail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/pickup"
)

// Run does what o asks once cfg is loaded: -q asks the running daemon to
// flush its queue, -bs speaks SMTP on in and out, and otherwise the
// message on in is prepared and handed to the daemon through the pickup
// (internal/pickup). Notes go to errOut after "sendmail: " (-v: where the
// message went). The error carries the exit code (sysexits): a refusal's
// or a diag's; one that knows no code is our own trouble and temporary
// (75), so the caller tries again; an SMTP session cut without QUIT is 74
// with nothing more to say.
func Run(ctx context.Context, cfg *config.Config, o *Options, in io.Reader, out, errOut io.Writer, now func() time.Time) error {
	drop := pickup.DropFor(cfg)
	caller := LocalCaller(cfg.Server.Hostname, cfg.Sendmail.Domain)
	var err error
	switch o.Mode {
	case ModeFlush:
		if o.FlushSite != "" {
			fmt.Fprintf(errOut, "sendmail: -qR%s: there is no per-site queue yet; flushing everything\n", o.FlushSite)
		}
		err = pickup.Flush(ctx, cfg, o.FlushID)
	case ModeSMTP:
		if ServeSMTP(ctx, cfg, drop, caller, in, out) != nil {
			return cli.Exit(diag.ExIOErr)
		}
	default:
		var m *Message
		var res *pickup.Result
		if m, err = Prepare(o, in, caller, now()); err == nil {
			res, err = Submit(ctx, drop, m, o, now())
		}
		if err == nil && o.Verbose {
			if res.QueueID != "" {
				fmt.Fprintf(errOut, "sendmail: queued as %s\n", res.QueueID)
			} else {
				fmt.Fprintf(errOut, "sendmail: left for the daemon in %s (%v)\n", res.File, res.Why)
			}
		}
	}
	var ec interface{ ExitCode() int }
	if err != nil && !errors.As(err, &ec) {
		err = diag.From(err, "sendmail", "submit")
	}
	return err
}
