package queue

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

// What ebb queue's subcommands do; cmd/ebb declares their flags.

// notQueued is an id a command was given that is not in the queue: the
// command line's fault, exit 66.
type notQueued struct{ error }

func (notQueued) ExitCode() int { return diag.ExNoInput }

// IDs are the queue ids of a command line, as the queue spells them
// (upper case).
func IDs(args []string) []string {
	ids := make([]string, len(args))
	for i, a := range args {
		ids[i] = strings.ToUpper(a)
	}
	return ids
}

// Act is ebb queue flush|hold|release|delete|requeue: op on ids (Control),
// or, given a domain and no ids, a flush of what waits for domain, a
// suspended destination too (ControlDomain). It says on w how many
// messages it acted on. Each id it could not act on is one of errs (exit
// 66); err is our own trouble, a *diag.Error.
func Act(ctx context.Context, w io.Writer, cfg *config.Config, log *slog.Logger, op Op, ids []string, domain string) (errs []error, err error) {
	var res []OpResult
	if domain != "" && len(ids) == 0 {
		res, err = ControlDomain(ctx, cfg, log, domain)
	} else {
		res, err = Control(ctx, cfg, log, op, ids)
	}
	if err != nil {
		return nil, diag.From(err, "ebb queue", "")
	}
	for _, r := range res {
		if r.Error != "" {
			errs = append(errs, notQueued{fmt.Errorf("%s", r.Error)})
		}
	}
	fmt.Fprintf(w, "%s: %s\n", op, diag.Count(Done(res), "message"))
	return errs, nil
}
