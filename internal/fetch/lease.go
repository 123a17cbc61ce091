package fetch

import (
	"context"
	"time"

	"github.com/ebbmail/ebb/internal/fetchstate"
)

// Several ebb hosts on one directory (docs/scaling.md) each run a Runner
// over the same accounts: a lease lets one host at a time fetch an
// account, so that no message is fetched by two. One host (SQLite, or no
// shared state) takes no lease: Runner.Leases stays nil.

// Leaser hands out leases on accounts (internal/cluster).
type Leaser interface {
	// Acquire takes account's lease, or says which host holds it (nil
	// Lease). An error is the database's: the account waits.
	Acquire(ctx context.Context, account string) (Lease, string, error)
}

// Lease is one held lease.
type Lease interface {
	// Context ends when the lease is lost (another host took it, or it
	// could not be renewed in time): fetching stops with it.
	Context() context.Context
	// Release gives the lease back, so another host takes it at once.
	Release()
}

// leased runs the account while this host holds its lease, and looks
// again every LeaseLook while another host does.
func (r *Runner) leased(ctx context.Context, a *fetchstate.FetchAccount, slots chan struct{}) {
	if r.Leases == nil {
		r.guarded(ctx, a, slots)
		return
	}
	look := r.LeaseLook
	if look <= 0 {
		look = 3 * time.Second
	}
	holder := ""
	for {
		l, h, err := r.Leases.Acquire(ctx, a.Name)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			r.F.log().Warn("cannot take the account's fetch lease; trying again", "account", a.Name, "err", err, "in", look.String())
		case l != nil:
			r.guarded(l.Context(), a, slots)
			l.Release()
			holder = ""
		case h != holder:
			holder = h
			r.F.log().Info("another host fetches the account", "account", a.Name, "host", h)
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(look):
		}
	}
}
