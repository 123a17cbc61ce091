package cluster

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/ebbmail/ebb/internal/policy"
)

// AuthStore is policy.AuthStore in the shared database: every host counts
// a source's and an account's failed logins together, so a guesser gets
// the budget once, not once per MX.
type AuthStore struct{ c *Cluster }

// AuthStore is the cluster's policy.AuthStore.
func (c *Cluster) AuthStore() *AuthStore { return &AuthStore{c} }

var _ policy.AuthStore = (*AuthStore)(nil)

func (s *AuthStore) AddFailure(ctx context.Context, key string, at, keep time.Time) error {
	_, err := s.c.db.ExecContext(ctx, `INSERT INTO auth_failures (key, at, keep) VALUES ($1, $2, $3)`, key, at, keep)
	return s.c.fail("count a failed login", err)
}

func (s *AuthStore) Failures(ctx context.Context, key string, since time.Time) ([]time.Time, error) {
	rows, err := s.c.db.QueryContext(ctx, `SELECT at FROM auth_failures WHERE key = $1 AND at > $2 ORDER BY at`, key, since)
	if err != nil {
		return nil, s.c.fail("read failed logins", err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var t time.Time
		if err := rows.Scan(&t); err != nil {
			return nil, s.c.fail("read failed logins", err)
		}
		out = append(out, t)
	}
	return out, s.c.fail("read failed logins", rows.Err())
}

func (s *AuthStore) Note(ctx context.Context, key, member string, until time.Time) error {
	_, err := s.c.db.ExecContext(ctx, `INSERT INTO auth_notes (key, member, until) VALUES ($1, $2, $3)
		ON CONFLICT (key, member) DO UPDATE SET until = GREATEST(auth_notes.until, EXCLUDED.until)`, key, member, until)
	return s.c.fail("note a login", err)
}

func (s *AuthStore) Noted(ctx context.Context, key, member string, now time.Time) (bool, error) {
	var n int
	err := s.c.db.QueryRowContext(ctx, `SELECT count(*) FROM auth_notes WHERE key = $1 AND member = $2 AND until > $3`,
		key, member, now).Scan(&n)
	return n > 0, s.c.fail("read login notes", err)
}

func (s *AuthStore) Expire(ctx context.Context, now time.Time) error {
	if _, err := s.c.db.ExecContext(ctx, `DELETE FROM auth_failures WHERE keep < $1`, now); err != nil {
		return s.c.fail("expire failed logins", err)
	}
	_, err := s.c.db.ExecContext(ctx, `DELETE FROM auth_notes WHERE until < $1`, now)
	return s.c.fail("expire login notes", err)
}

// TagKey is the key every host tags wrong passwords with
// (policy.AuthGuard): a repeated wrong password is recognised whichever
// host saw it first. Made once, by the first host that asks.
func (s *AuthStore) TagKey(ctx context.Context) ([]byte, error) {
	return s.c.secret(ctx, "auth-tag-key", 32)
}

// secret returns the shared secret name, making it (n random bytes) when
// no host has yet.
func (c *Cluster) secret(ctx context.Context, name string, n int) ([]byte, error) {
	b := make([]byte, n)
	rand.Read(b)
	if _, err := c.db.ExecContext(ctx, `INSERT INTO cluster_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, b); err != nil {
		return nil, c.fail("make a shared secret", err)
	}
	var v []byte
	err := c.db.QueryRowContext(ctx, `SELECT value FROM cluster_secrets WHERE name = $1`, name).Scan(&v)
	return v, c.fail("read a shared secret", err)
}
