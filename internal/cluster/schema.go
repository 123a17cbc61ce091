package cluster

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations[i] brings the cluster's tables from version i to i+1, in
// PostgreSQL's SQL (nothing here runs on SQLite). Append only: a released
// migration is never edited.
var migrations = [][]string{
	// 1: hosts, Sieve state, AUTH counts, the journal, fetch leases.
	{
		// One row per host (server.hostname): the run it is in, when it
		// was last heard of (the heartbeat), what doctor compares across
		// hosts (facts) and its queue's summary (the queue page).
		`CREATE TABLE cluster_hosts (
			name TEXT PRIMARY KEY,
			boot TEXT NOT NULL,
			started TIMESTAMPTZ NOT NULL,
			seen TIMESTAMPTZ NOT NULL,
			stopped BOOLEAN NOT NULL DEFAULT false,
			facts TEXT NOT NULL DEFAULT '{}',
			queue TEXT NOT NULL DEFAULT '{}'
		)`,
		// Values every host must use alike (the key of AUTH's wrong-
		// password tags), made once by the first host that needs one.
		`CREATE TABLE cluster_secrets (
			name TEXT PRIMARY KEY,
			value BYTEA NOT NULL
		)`,
		// Vacation (RFC 5230 §4.2): whom a mailbox answered under a
		// handle, until when.
		`CREATE TABLE sieve_vacation (
			mailbox TEXT NOT NULL,
			handle TEXT NOT NULL,
			sender TEXT NOT NULL,
			until TIMESTAMPTZ NOT NULL,
			host TEXT NOT NULL DEFAULT '',
			PRIMARY KEY (mailbox, handle, sender)
		)`,
		`CREATE INDEX sieve_vacation_until ON sieve_vacation (until)`,
		// Duplicate (RFC 7352): the ids a mailbox stored, until when.
		`CREATE TABLE sieve_duplicate (
			mailbox TEXT NOT NULL,
			handle TEXT NOT NULL,
			id TEXT NOT NULL,
			until TIMESTAMPTZ NOT NULL,
			PRIMARY KEY (mailbox, handle, id)
		)`,
		`CREATE INDEX sieve_duplicate_until ON sieve_duplicate (until)`,
		// AUTH failures and notes (policy.AuthStore).
		`CREATE TABLE auth_failures (
			key TEXT NOT NULL,
			at TIMESTAMPTZ NOT NULL,
			keep TIMESTAMPTZ NOT NULL
		)`,
		`CREATE INDEX auth_failures_key ON auth_failures (key, at)`,
		`CREATE INDEX auth_failures_keep ON auth_failures (keep)`,
		`CREATE TABLE auth_notes (
			key TEXT NOT NULL,
			member TEXT NOT NULL,
			until TIMESTAMPTZ NOT NULL,
			PRIMARY KEY (key, member)
		)`,
		`CREATE INDEX auth_notes_until ON auth_notes (until)`,
		// The journal (internal/journal's records, as JSON), with the
		// columns explain finds them by.
		`CREATE TABLE journal (
			seq BIGSERIAL PRIMARY KEY,
			t TIMESTAMPTZ NOT NULL,
			host TEXT NOT NULL,
			queue_id TEXT NOT NULL DEFAULT '',
			ref TEXT NOT NULL DEFAULT '',
			err_ref TEXT NOT NULL DEFAULT '',
			dsn_id TEXT NOT NULL DEFAULT '',
			next_id TEXT NOT NULL DEFAULT '',
			msgid TEXT NOT NULL DEFAULT '',
			addrs TEXT[] NOT NULL DEFAULT '{}',
			rec TEXT NOT NULL
		)`,
		`CREATE INDEX journal_queue_id ON journal (queue_id) WHERE queue_id <> ''`,
		`CREATE INDEX journal_ref ON journal (ref) WHERE ref <> ''`,
		`CREATE INDEX journal_err_ref ON journal (err_ref) WHERE err_ref <> ''`,
		`CREATE INDEX journal_dsn_id ON journal (dsn_id) WHERE dsn_id <> ''`,
		`CREATE INDEX journal_next_id ON journal (next_id) WHERE next_id <> ''`,
		`CREATE INDEX journal_msgid ON journal (msgid) WHERE msgid <> ''`,
		`CREATE INDEX journal_addrs ON journal USING GIN (addrs)`,
		`CREATE INDEX journal_t ON journal (t)`,
		// Fetch leases: which host fetches an account, until when it
		// must renew, and a generation that grows at every change of
		// owner (fencing: a host that lost its lease cannot write as its
		// owner any more).
		`CREATE TABLE fetch_leases (
			account TEXT PRIMARY KEY,
			host TEXT NOT NULL,
			boot TEXT NOT NULL,
			since TIMESTAMPTZ NOT NULL,
			until TIMESTAMPTZ NOT NULL,
			generation BIGINT NOT NULL DEFAULT 1
		)`,
	},
	// 2: submission's hourly limits counted for every host.
	{
		`CREATE TABLE rate_events (
			key TEXT NOT NULL,
			at TIMESTAMPTZ NOT NULL,
			keep TIMESTAMPTZ NOT NULL
		)`,
		`CREATE INDEX rate_events_key ON rate_events (key, at)`,
		`CREATE INDEX rate_events_keep ON rate_events (keep)`,
	},
}

// SchemaVersion is the version of the cluster's tables this ebb writes.
func SchemaVersion() int { return len(migrations) }

// migrateLock serialises hosts migrating at once (another key than the
// directory's).
const migrateLock = 7406820174

func (c *Cluster) version(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var exists bool
	if err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name = 'ebb_cluster_schema')`).Scan(&exists); err != nil || !exists {
		return 0, err
	}
	var v sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT max(version) FROM ebb_cluster_schema`).Scan(&v)
	return int(v.Int64), err
}

// migrate brings the tables to SchemaVersion() in one transaction; a
// newer schema (a newer ebb on another host) is used as it is, since
// migrations only add.
func (c *Cluster) migrate(ctx context.Context) error {
	if v, err := c.version(ctx, c.db); err != nil {
		return c.fail("migrate", err)
	} else if v >= len(migrations) {
		return nil
	}
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return c.fail("migrate", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
		return c.fail("migrate", err)
	}
	from, err := c.version(ctx, tx)
	if err != nil {
		return c.fail("migrate", err)
	}
	if from >= len(migrations) {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS ebb_cluster_schema (version INTEGER NOT NULL)`); err != nil {
		return c.fail("migrate", err)
	}
	for v := from; v < len(migrations); v++ {
		for _, stmt := range migrations[v] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return c.fail("migrate", fmt.Errorf("cluster migration to version %d: %w", v+1, err))
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ebb_cluster_schema (version) VALUES ($1)`, v+1); err != nil {
			return c.fail("migrate", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return c.fail("migrate", err)
	}
	c.log.Info("shared state tables migrated", "database", c.Where(), "from", from, "to", len(migrations))
	return nil
}
