package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/journal"
	"github.com/ebbmail/ebb/internal/tide"
)

// JournalOf is the journal `ebb explain` reads under cfg: this host's
// files, and with shared state also the database every host writes (its
// records first found, this host's files holding what the database could
// not take). close releases the database.
func JournalOf(ctx context.Context, cfg *config.Config) (src journal.Source, close func(), err error) {
	files := journal.Files(cfg.JournalDir())
	if !Enabled(cfg) {
		return files, func() {}, nil
	}
	dir, err := directory.OpenForReading(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	c, err := Attach(ctx, dir, HostName(cfg))
	if errors.Is(err, ErrNoTables) {
		return files, func() { dir.Close() }, nil
	}
	if err != nil {
		dir.Close()
		return nil, nil, err
	}
	return journal.Sources{c.JournalSource(), files}, func() { dir.Close() }, nil
}

// SieveStateFor is the vacation and duplicate state of ebb deliver with
// dir: the shared database's when cfg asks for shared state, else nil
// (the files under server.data_dir).
func SieveStateFor(ctx context.Context, cfg *config.Config, dir *directory.Directory, log *slog.Logger) (*SieveState, error) {
	if !Enabled(cfg) {
		return nil, nil
	}
	c, err := Open(ctx, dir, HostName(cfg), log)
	if err != nil {
		return nil, err
	}
	return c.SieveState(), nil
}

// WriteOtherQueues adds to mailq under cfg, with several hosts sharing
// state, the other hosts' queues as each published it at its last
// heartbeat (the queue page shows the same). Nothing without shared state
// or before a host made the shared tables; not reading them is said, and
// does not fail mailq.
func WriteOtherQueues(ctx context.Context, w io.Writer, cfg *config.Config) {
	if !Enabled(cfg) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	hosts, err := queuesOf(ctx, cfg)
	if err != nil {
		fmt.Fprintf(w, "\nThe other hosts' queues could not be read: %s\n", diag.From(err, "ebb mailq", "").Sentence())
		return
	}
	tide.WriteHosts(w, hosts)
}

func queuesOf(ctx context.Context, cfg *config.Config) ([]tide.HostView, error) {
	dir, err := directory.OpenForReading(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	c, err := Attach(ctx, dir, HostName(cfg))
	if errors.Is(err, ErrNoTables) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return c.HostViews(ctx)
}
