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
// Leases that cannot be read make a partial answer: the accounts, each
// with its owner unknown and why (fetch.Owner.Unknown), and the error
// that says why, for the command's exit code.
func FetchList(ctx context.Context, cfg *config.Config, dir *directory.Directory) ([]fetch.Listed, error) {
	return fetchList(ctx, dir, func() (map[string]Owner, error) { return FetchOwners(ctx, cfg, dir) })
}

func fetchList(ctx context.Context, dir *directory.Directory, leases func() (map[string]Owner, error)) ([]fetch.Listed, error) {
	ls, err := fetch.List(ctx, fetchstate.New(dir))
	if err != nil {
		return nil, err
	}
	owners, err := leases()
	if err != nil {
		why := err.Error()
		fetch.SetOwners(ls, func(string) (fetch.Owner, bool) { return fetch.Owner{Unknown: why}, true })
		return ls, err
	}
	if owners != nil {
		fetch.SetOwners(ls, func(a string) (fetch.Owner, bool) {
			o, ok := owners[a]
			return fetch.Owner{Host: o.Host, Since: o.Since, Ended: o.Ended}, ok
		})
	}
	return ls, nil
}
