package cluster

import (
	"context"
	"time"

	"github.com/ebbmail/ebb/internal/policy"
)

// RateStore is policy.RateStore in the shared database: submission's
// hourly limits (submission.max_messages_per_ip, _per_account) count a
// client's and an account's messages over every host, so that a sender
// gets the limit once, not once per host.
type RateStore struct{ c *Cluster }

// RateStore is the cluster's policy.RateStore.
func (c *Cluster) RateStore() *RateStore { return &RateStore{c} }

var _ policy.RateStore = (*RateStore)(nil)

// rateLockSeed keeps Take's advisory locks apart from other users of
// PostgreSQL's advisory locks (the keys are hashes of the rate's key).
const rateLockSeed = 7406820175

// Take counts and records in one transaction, holding an advisory lock
// on key: two hosts taking the last event of a key at once cannot both
// record it.
func (s *RateStore) Take(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (bool, error) {
	tx, err := s.c.db.BeginTx(ctx, nil)
	if err != nil {
		return false, s.c.fail("count a message", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, $2))`, key, rateLockSeed); err != nil {
		return false, s.c.fail("count a message", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM rate_events WHERE key = $1 AND at > $2`, key, now.Add(-window)).Scan(&n); err != nil {
		return false, s.c.fail("count a message", err)
	}
	if n >= limit {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO rate_events (key, at, keep) VALUES ($1, $2, $3)`, key, now, now.Add(window)); err != nil {
		return false, s.c.fail("count a message", err)
	}
	return true, s.c.fail("count a message", tx.Commit())
}

// expireRates drops the events past their window.
func (c *Cluster) expireRates(ctx context.Context, now time.Time) error {
	_, err := c.db.ExecContext(ctx, `DELETE FROM rate_events WHERE keep < $1`, now)
	return err
}
