package main

import (
	"context"
	"log/slog"

	"github.com/ebbmail/ebb/internal/cluster"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/mda"
	"github.com/ebbmail/ebb/internal/sievefilter"
)

// openForDelivery is ebb deliver's SQL directory (mda.Options.Directory):
// ebb-deliver links no SQL driver, ebb does.
func openForDelivery(ctx context.Context, cfg *config.Config, lg *slog.Logger) (mda.SQLDirectory, error) {
	d, err := directory.OpenForDelivery(ctx, cfg, lg)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// sieveStateForDelivery is ebb deliver's vacation and duplicate state
// (mda.Options.SieveState): with several hosts, the database they share.
func sieveStateForDelivery(ctx context.Context, cfg *config.Config, d mda.SQLDirectory, lg *slog.Logger) (sievefilter.State, error) {
	dir, ok := d.(*directory.Directory)
	if !ok {
		return nil, nil
	}
	st, err := cluster.SieveStateFor(ctx, cfg, dir, lg)
	if st == nil || err != nil {
		return nil, err // not a typed nil: mda tests the interface
	}
	return st, nil
}
