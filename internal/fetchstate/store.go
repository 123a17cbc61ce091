// Package fetchstate keeps what ebb's fetcher (internal/fetch) must
// remember in the directory's database, on SQLite and PostgreSQL alike:
// the fetch accounts (server, login, secrets, OAuth2 tokens, status), each
// folder's UIDVALIDITY and position, every message taken with its state
// (queued, delivered, skipped, retry), and what the queue said about it
// (docs/fetch.md, "Nothing is lost"). Its tables are part of the
// directory's schema (internal/directory/fetch_schema.go: one version for
// the database); this package is the only code that reads or writes them.
//
//	st := fetchstate.New(dir)
//	st.AddFetchAccount(ctx, a); st.RecordFetched(ctx, name, m); …
package fetchstate

import (
	"context"
	"database/sql"
	"time"

	"github.com/ebbmail/ebb/internal/directory"
)

// Store is the fetch state in the directory's database.
type Store struct {
	dir *directory.Directory
}

// New is the fetch state kept in dir's database.
func New(dir *directory.Directory) *Store { return &Store{dir: dir} }

// execer is a connection or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func nowUnix() int64 { return time.Now().Unix() }
