package cluster

import (
	"context"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetch"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// FetchList is what ebb fetch list shows (fetch.List) and, when several
// hosts share the directory, which host fetches each account (its lease).
func FetchList(ctx context.Context, cfg *config.Config, dir *directory.Directory) ([]fetch.Listed, error) {
	ls, err := fetch.List(ctx, fetchstate.New(dir))
	if err != nil {
		return nil, err
	}
	owners, err := FetchOwners(ctx, cfg, dir)
	if err != nil {
		return nil, err
	}
	if owners != nil {
		fetch.SetOwners(ls, func(a string) (fetch.Owner, bool) {
			o, ok := owners[a]
			return fetch.Owner{Host: o.Host, Since: o.Since, Ended: o.Ended}, ok
		})
	}
	return ls, nil
}
