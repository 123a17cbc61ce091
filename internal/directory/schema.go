package directory

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/ebbmail/ebb/internal/diag"
)

// migrations[i] brings the schema from version i to i+1. Append only: a
// released migration is never edited. The SQL is the common subset of
// SQLite and PostgreSQL (TEXT, BIGINT, INTEGER for booleans).
var migrations = [][]string{
	// 1: domains, mailboxes, aliases.
	{
		`CREATE TABLE domains (
			name TEXT PRIMARY KEY,
			alias_of TEXT NOT NULL DEFAULT '',
			created BIGINT NOT NULL DEFAULT 0
		)`,
		// lookup is lower(local)@domain: addresses compare case-insensitively;
		// address keeps the spelling given, which {local} in mail.maildir uses.
		`CREATE TABLE mailboxes (
			lookup TEXT PRIMARY KEY,
			address TEXT NOT NULL,
			domain TEXT NOT NULL,
			password TEXT NOT NULL DEFAULT '',
			quota_bytes BIGINT NOT NULL DEFAULT 0,
			quota_messages BIGINT NOT NULL DEFAULT 0,
			enabled INTEGER NOT NULL DEFAULT 1,
			maildir TEXT NOT NULL DEFAULT '',
			created BIGINT NOT NULL DEFAULT 0
		)`,
		`CREATE INDEX mailboxes_domain ON mailboxes (domain)`,
		// One row per destination. A catch-all is the alias "@domain".
		`CREATE TABLE aliases (
			lookup TEXT NOT NULL,
			address TEXT NOT NULL,
			domain TEXT NOT NULL,
			destination TEXT NOT NULL,
			PRIMARY KEY (lookup, destination)
		)`,
		`CREATE INDEX aliases_domain ON aliases (domain)`,
	},
	// 2: fetch accounts and their state (fetch_schema.go).
	fetchMigration,
	// 3: a fetched message's state after the queue, and its digest.
	fetchOutcomeMigration,
	// 4: which host's queue holds a fetched message.
	fetchHostMigration,
	// 5: what a skipped message's notice may say (no local path).
	fetchPublicMigration,
}

// SchemaVersion is the schema version this ebb writes and understands.
func SchemaVersion() int { return len(migrations) }

const schemaTable = `CREATE TABLE IF NOT EXISTS ebb_schema (version INTEGER NOT NULL)`

// q rewrites the "?" placeholders for PostgreSQL ($1, $2, …).
func (d *Directory) q(s string) string {
	if d.engine != Postgres {
		return s
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// CurrentVersion reads the schema version of the database (0: empty).
func (d *Directory) CurrentVersion(ctx context.Context) (int, error) {
	v, err := readVersion(ctx, d.db, d)
	if err != nil {
		return 0, d.dbError("read the schema version", err)
	}
	return v, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readVersion(ctx context.Context, q queryer, d *Directory) (int, error) {
	var exists int
	var err error
	if d.engine == Postgres {
		err = q.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'ebb_schema'`).Scan(&exists)
	} else {
		err = q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'ebb_schema'`).Scan(&exists)
	}
	if err != nil || exists == 0 {
		return 0, err
	}
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT max(version) FROM ebb_schema`).Scan(&v); err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}

// Migrate brings the schema to SchemaVersion() in one transaction and
// returns the versions before and after. Several processes may call it at
// once: SQLite's immediate transaction or PostgreSQL's advisory lock makes
// them take turns. A schema newer than this ebb is refused, untouched.
func (d *Directory) Migrate(ctx context.Context) (from, to int, err error) {
	// The common case, an up-to-date schema, needs no write lock.
	if v, err := readVersion(ctx, d.db, d); err != nil {
		return 0, 0, d.dbError("migrate", err)
	} else if v > len(migrations) {
		return v, v, d.tooNew(v)
	} else if v == len(migrations) {
		return v, v, nil
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, d.dbError("migrate", err)
	}
	defer tx.Rollback()
	if d.engine == Postgres {
		// Serialise concurrent migrators; released at commit.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7406820173)`); err != nil {
			return 0, 0, d.dbError("migrate", err)
		}
	}
	from, err = readVersion(ctx, tx, d)
	if err != nil {
		return 0, 0, d.dbError("migrate", err)
	}
	if from > len(migrations) {
		return from, from, d.tooNew(from)
	}
	if from == len(migrations) {
		return from, from, nil
	}
	if _, err := tx.ExecContext(ctx, schemaTable); err != nil {
		return 0, 0, d.dbError("migrate", err)
	}
	for v := from; v < len(migrations); v++ {
		for _, stmt := range migrations[v] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return from, v, d.dbError("migrate", fmt.Errorf("migration to version %d: %w", v+1, err))
			}
		}
		if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO ebb_schema (version) VALUES (?)`), v+1); err != nil {
			return from, v, d.dbError("migrate", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return from, from, d.dbError("migrate", err)
	}
	if from == 0 {
		// A new database, not an old one brought up to date.
		d.log.Info("directory database created", "database", d.where, "schema", len(migrations))
	} else {
		d.log.Info("directory schema migrated", "database", d.where, "from", from, "to", len(migrations))
	}
	return from, len(migrations), nil
}

func (d *Directory) tooNew(v int) error {
	e := diag.New("migrate", "use the directory database", d.where,
		fmt.Errorf("%w: the schema is at version %d, this ebb knows versions up to %d", ErrSchemaTooNew, v, len(migrations)))
	e.Class = diag.Permanent
	e.Exit = diag.ExConfig
	e.Setting = d.setting
	e.Hint = "upgrade this ebb to the version that migrated the database (never downgrade the schema by hand)"
	return e
}
