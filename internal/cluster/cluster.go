// Package cluster is what several ebb hosts on one PostgreSQL directory
// share besides the directory (docs/scaling.md): vacation and duplicate
// records, the AUTH failure counts, the journal that `ebb explain` reads,
// each host's queue summary for the queue page, and the leases that let
// one host at a time fetch an account. Without it every host acts alone
// on these: a sender gets one vacation reply per host, a guesser one AUTH
// budget per MX, and `ebb explain` knows only its own host's messages.
//
// It lives in the directory's PostgreSQL database, in tables of its own
// with a schema version of their own (ebb_cluster_schema), so that it
// changes without the directory's schema (shared by SQLite) and is made
// only where it is used. A single host, or SQLite, never opens it:
// everything stays under server.data_dir as before.
//
//	c, err := cluster.Open(ctx, dir, "mx1.example.com", log) // migrates
//	filter.State = c.SieveState()                             // sievefilter.State
//	guard := policy.NewAuthGuard(limits, c.AuthStore())       // policy.AuthStore
//	w := c.JournalWriter(fallback); src := c.JournalSource()  // journal
//	stop := c.Heartbeat(ctx, facts, queueSummary)             // hosts table
//
// Every error is a *diag.Error from the directory (temporary, naming the
// database, with the directory's hint), so callers treat the database
// being away as their own trouble: 4xx, retry.
//
// Other parts that want shared state follow the same pattern: a file here
// with its tables appended to migrations (schema.go), methods on Cluster,
// and a narrow interface defined where it is used.
package cluster

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
)

// Cluster is this host's handle on the shared state. Safe for concurrent
// use.
type Cluster struct {
	db   *sql.DB
	dir  *directory.Directory
	host string // this host's name: server.hostname
	boot string // this run's random id (a restart is a new run)
	log  *slog.Logger
	now  func() time.Time

	mu    sync.Mutex
	facts string // the facts Register wrote (JSON), written again after a clash
}

// Enabled reports whether cfg asks for shared state: a PostgreSQL
// directory with directory.shared_state on. Nothing here runs otherwise.
func Enabled(cfg *config.Config) bool {
	return cfg.Directory.SharedState && directory.IsPostgresDSN(cfg.Directory.DSN)
}

// HostName is the name this host goes by among the others: server.hostname,
// or the machine's name when that is empty.
func HostName(cfg *config.Config) string {
	if h := strings.TrimSpace(cfg.Server.Hostname); h != "" {
		return strings.ToLower(h)
	}
	h, _ := os.Hostname()
	return strings.ToLower(h)
}

// Open brings the cluster's tables up to date in dir's database (a
// PostgreSQL directory) and returns the handle of host.
func Open(ctx context.Context, dir *directory.Directory, host string, log *slog.Logger) (*Cluster, error) {
	if dir.Engine() != directory.Postgres {
		return nil, errors.New("shared state needs a PostgreSQL directory")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b [8]byte
	rand.Read(b[:])
	c := &Cluster{db: dir.DB(), dir: dir, host: host, boot: hex.EncodeToString(b[:]), log: log, now: time.Now}
	if err := c.migrate(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Attach opens the shared state without changing the schema, for a
// command that reads it (ebb explain, doctor): tables not made yet (no
// ebb serve has run with shared state) are an error saying so.
func Attach(ctx context.Context, dir *directory.Directory, host string) (*Cluster, error) {
	if dir.Engine() != directory.Postgres {
		return nil, errors.New("shared state needs a PostgreSQL directory")
	}
	c := &Cluster{db: dir.DB(), dir: dir, host: host, log: slog.New(slog.DiscardHandler), now: time.Now}
	v, err := c.version(ctx, c.db)
	if err != nil {
		return nil, c.fail("read the shared state's schema version", err)
	}
	if v == 0 {
		return nil, ErrNoTables
	}
	return c, nil
}

// ErrNoTables: the shared state's tables are made by ebb serve at its
// first start with a PostgreSQL directory and directory.shared_state on.
var ErrNoTables = errors.New("the shared state's tables are not in the database yet: ebb serve makes them when it starts")

// DB is the database handle, for tests.
func (c *Cluster) DB() *sql.DB { return c.db }

// Host is this host's name.
func (c *Cluster) Host() string { return c.host }

// Where names the database for people (host:port/dbname).
func (c *Cluster) Where() string { return c.dir.Where() }

// fail is the boundary error for a database failure: the directory's.
func (c *Cluster) fail(op string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	return c.dir.Fail(op, err)
}
