package cluster

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
)

// Fetch leases: one host at a time fetches an account. A lease is a row
// (fetch_leases) that names its host and run and ends at a time of the
// database's clock; its holder renews it every third of its length, and
// stops fetching on its own clock before the lease could end (a quarter of
// the length early) when it cannot renew. Another host takes a lease that
// has ended, or one its holder gave back at a clean stop. So a host that
// dies is replaced within the lease's length plus the others' look
// interval (fetch.lease and a fifth of it), and two hosts never fetch one
// account at once while their clocks run at about the same rate: the
// holder's deadline is measured from before it sent the renewal, the
// lease's end from when the database wrote it.
//
// Why not PostgreSQL's advisory locks: a session lock frees at once when
// its connection ends, which is also what a holder that lives on behind a
// broken connection looks like; the lease's end is a bound both sides
// can keep.

// Leases hands out fetch leases for this host (fetch.Leaser).
type Leases struct {
	c   *Cluster
	ttl time.Duration
}

// FetchLeases are this host's fetch leases of length ttl.
func (c *Cluster) FetchLeases(ttl time.Duration) *Leases { return &Leases{c: c, ttl: ttl} }

// Lease is one held lease: its context ends when the lease is lost or
// given back.
type Lease struct {
	l          *Leases
	account    string
	generation int64
	ctx        context.Context
	cancel     context.CancelFunc
	done       chan struct{}
	once       sync.Once
}

// Owner is who holds an account's lease.
type Owner struct {
	Host  string    `json:"host"`
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Ended: the lease ran out (its host stopped renewing it, or gave it
	// back), so the next host to look takes it.
	Ended bool `json:"ended,omitempty"`
}

// Acquire takes account's lease when no other host holds it, or renews
// this run's. A nil lease and the holder's name: another host has it.
func (l *Leases) Acquire(ctx context.Context, account string) (*Lease, string, error) {
	start := time.Now()
	var gen int64
	err := l.c.db.QueryRowContext(ctx, `INSERT INTO fetch_leases (account, host, boot, since, until, generation)
		VALUES ($1, $2, $3, now(), now() + $4 * interval '1 millisecond', 1)
		ON CONFLICT (account) DO UPDATE SET host = EXCLUDED.host, boot = EXCLUDED.boot,
			since = CASE WHEN fetch_leases.boot = EXCLUDED.boot AND fetch_leases.until >= now() THEN fetch_leases.since ELSE now() END,
			until = EXCLUDED.until, generation = fetch_leases.generation + 1
		WHERE fetch_leases.until < now() OR (fetch_leases.host = EXCLUDED.host AND fetch_leases.boot = EXCLUDED.boot)
		RETURNING generation`, account, l.c.host, l.c.boot, l.ttl.Milliseconds()).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) {
		var holder string
		err := l.c.db.QueryRowContext(ctx, `SELECT host FROM fetch_leases WHERE account = $1`, account).Scan(&holder)
		return nil, holder, l.c.fail("read a fetch lease", err)
	}
	if err != nil {
		return nil, "", l.c.fail("take a fetch lease", err)
	}
	lctx, cancel := context.WithCancel(ctx)
	ls := &Lease{l: l, account: account, generation: gen, ctx: lctx, cancel: cancel, done: make(chan struct{})}
	go ls.keep(start)
	l.c.log.Info("fetch lease taken: this host fetches the account", "account", account, "lease", l.ttl.String(), "generation", gen)
	return ls, l.c.host, nil
}

// Context ends when the lease is lost or given back: the account's
// fetching stops with it.
func (s *Lease) Context() context.Context { return s.ctx }

// keep renews the lease every third of its length until its context ends;
// it ends the context itself when the lease is taken over, or when it
// could not be renewed by a quarter of its length before its end.
func (s *Lease) keep(renewed time.Time) {
	defer close(s.done)
	ttl := s.l.ttl
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	for {
		deadline := renewed.Add(ttl - ttl/4)
		wait := time.NewTimer(time.Until(deadline))
		select {
		case <-s.ctx.Done():
			wait.Stop()
			return
		case <-wait.C:
			s.l.c.log.Warn("fetch lease not renewed in time: this host stops fetching the account (another host may take it)", "account", s.account)
			s.cancel()
			return
		case <-t.C:
			wait.Stop()
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(s.ctx, ttl/4)
		res, err := s.l.c.db.ExecContext(ctx, `UPDATE fetch_leases SET until = now() + $1 * interval '1 millisecond'
			WHERE account = $2 AND host = $3 AND boot = $4 AND generation = $5`,
			ttl.Milliseconds(), s.account, s.l.c.host, s.l.c.boot, s.generation)
		cancel()
		if err != nil {
			if s.ctx.Err() == nil {
				s.l.c.log.Warn("fetch lease: cannot renew it yet", "account", s.account, "err", s.l.c.fail("renew a fetch lease", err))
			}
			continue // the deadline above decides
		}
		if n, _ := res.RowsAffected(); n != 1 {
			s.l.c.log.Warn("fetch lease lost to another host: this host stops fetching the account", "account", s.account)
			s.cancel()
			return
		}
		renewed = start
	}
}

// Release gives the lease back (a clean stop, the account removed): the
// next host to look takes it at once.
func (s *Lease) Release() {
	s.once.Do(func() {
		s.cancel()
		<-s.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.l.c.db.ExecContext(ctx, `UPDATE fetch_leases SET until = now() - interval '1 millisecond'
			WHERE account = $1 AND host = $2 AND boot = $3 AND generation = $4`, s.account, s.l.c.host, s.l.c.boot, s.generation)
	})
}

// Owners are the holders of the accounts' leases, by account, as the
// database sees them now.
func (c *Cluster) Owners(ctx context.Context) (map[string]Owner, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT account, host, since, until, until < now() FROM fetch_leases`)
	if err != nil {
		return nil, c.fail("read the fetch leases", err)
	}
	defer rows.Close()
	out := map[string]Owner{}
	for rows.Next() {
		var a string
		var o Owner
		if err := rows.Scan(&a, &o.Host, &o.Since, &o.Until, &o.Ended); err != nil {
			return nil, c.fail("read the fetch leases", err)
		}
		out[a] = o
	}
	return out, c.fail("read the fetch leases", rows.Err())
}

// FetchOwners are the holders of the fetch accounts' leases under cfg, for
// ebb fetch list; nil without shared state (one host fetches them all).
func FetchOwners(ctx context.Context, cfg *config.Config, dir *directory.Directory) (map[string]Owner, error) {
	if !Enabled(cfg) {
		return nil, nil
	}
	c, err := Attach(ctx, dir, HostName(cfg))
	if errors.Is(err, ErrNoTables) {
		return map[string]Owner{}, nil
	}
	if err != nil {
		return nil, err
	}
	return c.Owners(ctx)
}
