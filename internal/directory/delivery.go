package directory

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/ebbmail/ebb/internal/config"
)

// OpenForDelivery opens the directory for one delivery's lookups (ebb
// deliver -d, when the delivery map cannot be used). It first opens it
// read-only and leaves the schema alone: a one-message
// process then takes no write lock and runs no migration check, and it
// leaves SQLite's -wal and -shm files for the next process (a read-write
// connection that closes last checkpoints and deletes them, so every
// delivery would create and delete two files). A database that is missing
// is an error that names it and its setting (a delivery creates no
// database); one not at this ebb's schema version is opened the usual way,
// which migrates it; why is logged at debug level. A lock
// held past directory.busy_timeout is returned as it is: the usual open
// would wait for it as long again, and fail the same way.
func OpenForDelivery(ctx context.Context, cfg *config.Config, lg *slog.Logger) (*Directory, error) {
	d, err := OpenWith(ctx, cfg, Options{NoMigrate: true, ReadOnly: true})
	if err == nil {
		v, verr := d.CurrentVersion(ctx)
		if verr == nil && v == SchemaVersion() {
			return d, nil
		}
		d.Close()
		err = verr
		if verr == nil {
			err = fmt.Errorf("schema version %d, this ebb's is %d", v, SchemaVersion())
		}
	}
	if IsBusy(err) || ctx.Err() != nil || errors.Is(err, fs.ErrNotExist) {
		// A missing database is never created by a delivery (issue 21:
		// root's ebb deliver left a root-owned one): the error names the
		// path and the setting that chose it.
		return nil, err
	}
	lg.Debug("directory: not usable read-only; opening it read-write, which creates or migrates it", "why", err)
	return Open(ctx, cfg)
}
