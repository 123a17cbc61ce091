package main

import (
	"context"
	"log/slog"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/mda"
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
