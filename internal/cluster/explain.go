package cluster

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/journal"
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
