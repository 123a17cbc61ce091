package reports

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/ebbmail/ebb/internal/mailuser"
)

// sqliteStore is the Store in one SQLite file (reports.store): WAL, so
// that ebb report send and the CLI's readers run beside the daemon.
type sqliteStore struct {
	db   *sql.DB
	path string
}

const schema = `
CREATE TABLE IF NOT EXISTS tls_sessions (day TEXT NOT NULL, domain TEXT NOT NULL, key TEXT NOT NULL, count INTEGER NOT NULL,
	PRIMARY KEY (day, domain, key));
CREATE TABLE IF NOT EXISTS dmarc_evaluations (day TEXT NOT NULL, domain TEXT NOT NULL, key TEXT NOT NULL, count INTEGER NOT NULL,
	PRIMARY KEY (day, domain, key));
CREATE TABLE IF NOT EXISTS sent (kind TEXT NOT NULL, domain TEXT NOT NULL, day TEXT NOT NULL, state TEXT NOT NULL,
	detail TEXT NOT NULL DEFAULT '', at TEXT NOT NULL, PRIMARY KEY (kind, domain, day));
CREATE TABLE IF NOT EXISTS received (kind TEXT NOT NULL, reporter TEXT NOT NULL, report_id TEXT NOT NULL, domain TEXT NOT NULL,
	begin_at TEXT NOT NULL, end_at TEXT NOT NULL, at TEXT NOT NULL, body TEXT NOT NULL,
	PRIMARY KEY (kind, reporter, report_id));
CREATE INDEX IF NOT EXISTS received_domain ON received (kind, domain, end_at);
`

// StoreOptions say how to open the store.
type StoreOptions struct {
	// ReadOnly opens an existing store for reading: nothing is created,
	// and a missing file is an error (ErrNoStore).
	ReadOnly bool
	// Owner gets the file and its -wal and -shm when root makes them
	// (mailuser.ForRoot): the daemon runs as server.user.
	Owner *mailuser.User
}

// ErrNoStore: the store does not exist yet (nothing recorded).
var ErrNoStore = errors.New("no reports store yet")

// OpenSQLite opens (or creates) the store at path.
func OpenSQLite(ctx context.Context, path string, o StoreOptions) (Store, error) {
	if _, err := os.Stat(path); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if o.ReadOnly {
			return nil, fmt.Errorf("%w: %s does not exist", ErrNoStore, path)
		}
		if d, err := o.Owner.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, &fs.PathError{Op: "mkdir", Path: d, Err: err}
		}
	}
	q := "?_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	if o.ReadOnly {
		q = "?_pragma=busy_timeout(10000)&mode=ro"
	}
	db, err := sql.Open("sqlite", "file:"+path+q)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	s := &sqliteStore{db: db, path: path}
	if o.ReadOnly {
		return s, nil
	}
	if _, err := db.ExecContext(ctx, `PRAGMA journal_mode=WAL`); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create the tables in %s: %w", path, err)
	}
	os.Chmod(path, 0o640)
	if err := o.Owner.Give(path, path+"-wal", path+"-shm"); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *sqliteStore) Close() error { return s.db.Close() }

func (s *sqliteStore) add(ctx context.Context, table string, rows func(yield func(day, domain string, rec any, n int64))) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO `+table+` (day, domain, key, count) VALUES (?, ?, ?, ?)
		ON CONFLICT (day, domain, key) DO UPDATE SET count = count + excluded.count`)
	if err != nil {
		return err
	}
	defer st.Close()
	var ferr error
	rows(func(day, domain string, rec any, n int64) {
		if ferr != nil {
			return
		}
		key, err := json.Marshal(rec)
		if err == nil {
			_, err = st.ExecContext(ctx, day, domain, string(key), n)
		}
		ferr = err
	})
	if ferr != nil {
		return ferr
	}
	return tx.Commit()
}

func (s *sqliteStore) AddTLS(ctx context.Context, rs []TLSRecord) error {
	return s.add(ctx, "tls_sessions", func(yield func(string, string, any, int64)) {
		for _, r := range rs {
			yield(r.Day, r.Domain, r, r.Count)
		}
	})
}

func (s *sqliteStore) AddDMARC(ctx context.Context, rs []DMARCRecord) error {
	return s.add(ctx, "dmarc_evaluations", func(yield func(string, string, any, int64)) {
		for _, r := range rs {
			yield(r.Day, r.Domain, r, r.Count)
		}
	})
}

func table(kind string) string {
	if kind == KindDMARC {
		return "dmarc_evaluations"
	}
	return "tls_sessions"
}

func (s *sqliteStore) Domains(ctx context.Context, kind, day string) ([]string, error) {
	return queryAll(ctx, s.db, func(rows *sql.Rows) (d string, err error) { err = rows.Scan(&d); return },
		`SELECT DISTINCT domain FROM `+table(kind)+` WHERE day = ? ORDER BY domain`, day)
}

func (s *sqliteStore) Counts(ctx context.Context, kind, day string) (map[string]int64, error) {
	type count struct {
		domain string
		n      int64
	}
	cs, err := queryAll(ctx, s.db, func(rows *sql.Rows) (c count, err error) { err = rows.Scan(&c.domain, &c.n); return },
		`SELECT domain, SUM(count) FROM `+table(kind)+` WHERE day = ? GROUP BY domain`, day)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(cs))
	for _, c := range cs {
		out[c.domain] = c.n
	}
	return out, nil
}

func (s *sqliteStore) Pending(ctx context.Context, kind, before string, now time.Time) ([]DomainDay, error) {
	return queryAll(ctx, s.db, func(rows *sql.Rows) (d DomainDay, err error) { err = rows.Scan(&d.Domain, &d.Day); return },
		`SELECT DISTINCT t.domain, t.day FROM `+table(kind)+` t
		WHERE t.day < ? AND NOT EXISTS (SELECT 1 FROM sent WHERE sent.kind = ? AND sent.domain = t.domain AND sent.day = t.day
			AND NOT (sent.state IN (?, ?) AND sent.at < ?))
		ORDER BY t.day, t.domain`, before, kind, StateRetry, stateClaimed, now.Add(-retryAfter).UTC().Format(time.RFC3339))
}

// queryAll runs query and returns what scan makes of each row.
func queryAll[T any](ctx context.Context, db *sql.DB, scan func(*sql.Rows) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// records reads the records of one kind, domain and day: each row's key is
// the record as JSON, stamp gives it back its day, domain and count.
func records[T any](ctx context.Context, s *sqliteStore, kind, domain, day string, stamp func(r *T, n int64)) ([]T, error) {
	return queryAll(ctx, s.db, func(rows *sql.Rows) (r T, err error) {
		var key string
		var n int64
		if err := rows.Scan(&key, &n); err != nil {
			return r, err
		}
		if err := json.Unmarshal([]byte(key), &r); err != nil {
			return r, err
		}
		stamp(&r, n)
		return r, nil
	}, `SELECT key, count FROM `+table(kind)+` WHERE domain = ? AND day = ? ORDER BY key`, domain, day)
}

func (s *sqliteStore) TLSRecords(ctx context.Context, domain, day string) ([]TLSRecord, error) {
	return records(ctx, s, KindTLS, domain, day, func(r *TLSRecord, n int64) { r.Day, r.Domain, r.Count = day, domain, n })
}

func (s *sqliteStore) DMARCRecords(ctx context.Context, domain, day string) ([]DMARCRecord, error) {
	return records(ctx, s, KindDMARC, domain, day, func(r *DMARCRecord, n int64) { r.Day, r.Domain, r.Count = day, domain, n })
}

func (s *sqliteStore) Claim(ctx context.Context, kind, domain, day string, force bool, now time.Time) (bool, error) {
	now = now.UTC()
	res, err := s.db.ExecContext(ctx, `INSERT INTO sent (kind, domain, day, state, at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (kind, domain, day) DO UPDATE SET state = excluded.state, at = excluded.at
		WHERE ? OR (sent.state IN (?, ?) AND sent.at < ?)`,
		kind, domain, day, stateClaimed, now.Format(time.RFC3339), force, StateRetry, stateClaimed, now.Add(-retryAfter).Format(time.RFC3339))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *sqliteStore) Finish(ctx context.Context, x Sent) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sent (kind, domain, day, state, detail, at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, domain, day) DO UPDATE SET state = excluded.state, detail = excluded.detail, at = excluded.at`,
		x.Kind, x.Domain, x.Day, x.State, x.Detail, x.At.UTC().Format(time.RFC3339))
	return err
}

func (s *sqliteStore) SentSince(ctx context.Context, since time.Time) ([]Sent, error) {
	return queryAll(ctx, s.db, func(rows *sql.Rows) (x Sent, err error) {
		var at string
		if err := rows.Scan(&x.Kind, &x.Domain, &x.Day, &x.State, &x.Detail, &at); err != nil {
			return x, err
		}
		x.At, _ = time.Parse(time.RFC3339, at)
		return x, nil
	}, `SELECT kind, domain, day, state, detail, at FROM sent WHERE at >= ? AND state != ? ORDER BY at DESC, domain`,
		since.UTC().Format(time.RFC3339), stateClaimed)
}

func (s *sqliteStore) AddReceived(ctx context.Context, r Received) (bool, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO received (kind, reporter, report_id, domain, begin_at, end_at, at, body)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		r.Kind, r.Reporter, r.ReportID, r.Domain, r.Begin.UTC().Format(time.RFC3339), r.End.UTC().Format(time.RFC3339),
		r.At.UTC().Format(time.RFC3339), string(body))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *sqliteStore) ReceivedFor(ctx context.Context, kind, domain string, since time.Time) ([]Received, error) {
	q := `SELECT body FROM received WHERE kind = ? AND end_at >= ?`
	args := []any{kind, since.UTC().Format(time.RFC3339)}
	if domain != "" {
		q += ` AND domain = ?`
		args = append(args, domain)
	}
	out, err := queryAll(ctx, s.db, func(rows *sql.Rows) (r Received, err error) {
		var b string
		if err := rows.Scan(&b); err != nil {
			return r, err
		}
		err = json.Unmarshal([]byte(b), &r)
		return r, err
	}, q, args...)
	sort.Slice(out, func(i, j int) bool { return out[i].Begin.Before(out[j].Begin) })
	return out, err
}

func (s *sqliteStore) Prune(ctx context.Context, before time.Time) error {
	day := DayOf(before)
	ts := before.UTC().Format(time.RFC3339)
	for _, q := range []struct {
		sql string
		arg any
	}{
		{`DELETE FROM tls_sessions WHERE day < ?`, day},
		{`DELETE FROM dmarc_evaluations WHERE day < ?`, day},
		{`DELETE FROM sent WHERE day < ?`, day},
		{`DELETE FROM received WHERE end_at < ?`, ts},
	} {
		if _, err := s.db.ExecContext(ctx, q.sql, q.arg); err != nil {
			return err
		}
	}
	return nil
}
