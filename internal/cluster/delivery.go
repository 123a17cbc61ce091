package cluster

import (
	"context"
	"log/slog"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/mda"
	"github.com/ebbmail/ebb/internal/sievefilter"
)

// MDAOptions are ebb deliver's options in the whole ebb binary: the SQL
// directory (ebb-deliver links no SQL driver and hands such deliveries
// to ebb) and, with several hosts sharing state, the vacation and
// duplicate state in the database they share.
func MDAOptions() mda.Options {
	return mda.Options{Directory: openForDelivery, SieveState: sieveStateForDelivery}
}

func openForDelivery(ctx context.Context, cfg *config.Config, lg *slog.Logger) (mda.SQLDirectory, error) {
	d, err := directory.OpenForDelivery(ctx, cfg, lg)
	if err != nil {
		return nil, err // not a typed nil: mda tests the interface
	}
	return d, nil
}

func sieveStateForDelivery(ctx context.Context, cfg *config.Config, d mda.SQLDirectory, lg *slog.Logger) (sievefilter.State, error) {
	dir, ok := d.(*directory.Directory)
	if !ok {
		return nil, nil
	}
	st, err := SieveStateFor(ctx, cfg, dir, lg)
	if st == nil || err != nil {
		return nil, err // not a typed nil: mda tests the interface
	}
	return st, nil
}
