package directory

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ebbmail/ebb/internal/resolve"
)

// Reading a mailbox "as the database holds it now" (MailboxNow) is asked
// at every delivery (its quota: a quota changed with ebb user set --quota
// applies at the next delivery, issue 21) and when the SMTP server refuses
// for a quota. A query each time was a tenth of the daemon's CPU at 1 KiB
// (issue 28), so the answer is kept until the database changes, and
// whether it changed is asked of SQLite, cheaply and exactly:
//
//   - PRAGMA data_version, read on one connection kept for it, changes
//     whenever a transaction by any other connection commits (another
//     process — ebb user set, the sqlite3 shell — or this process through
//     its pooled connections): an answer kept under the version read
//     before its query is right as long as the version read later is the
//     same (nothing committed in between).
//   - own counts this Directory's own writes (changed), belt and braces.
//   - Cheaper still, while the database's files have been left alone for
//     a while (settle): when a stat of the database and its -wal finds
//     them as they were just before the last data_version read, nothing
//     committed since (a commit writes them), and that read stands: two
//     stat calls instead of a statement.
//
// A change seen this way also empties the resolution and domain caches
// (directory.cache_ttl), so that what the delivery saw changed is not
// answered from them either.
//
// PostgreSQL has no such counter (another host may write at any time):
// there MailboxNow queries each time, as before; so does a directory
// opened read-only (ebb deliver: one message per process).

// stamp is one reading of the change check; equal stamps mean no commit in
// between.
type stamp struct {
	conn uint64 // which kept connection read data (versions of two differ)
	data int64  // PRAGMA data_version
	own  uint64 // this Directory's writes
}

// watch is the change check and the mailboxes kept under it.
type watch struct {
	mu      sync.Mutex // serialises checks on conn
	conn    *sql.Conn
	version *sql.Stmt
	conns   uint64 // connections opened, for stamp.conn
	started atomic.Uint64
	last    stamp  // the result of check number lastAt
	lastAt  uint64 // 0: none yet
	seen    stamp  // the last stamp seen, for emptying the TTL caches

	own atomic.Uint64

	cmu       sync.RWMutex
	mailboxes map[string]keptMailbox

	// files is the stat of the database's files taken just before the
	// check that gave last; settled: it may stand for data_version (see
	// settle).
	files   resolve.Stamp
	settled bool

	checks, versions, queries atomic.Uint64 // for tests: change checks, of them PRAGMA data_version reads, mailbox queries
}

type keptMailbox struct {
	mb  *Mailbox // nil: err says why (no such mailbox)
	err error
	at  stamp
}

// maxKept bounds the mailboxes kept; when full the map is emptied.
const maxKept = 200000

// current returns the stamp of the database now: from a check started
// after the call (one check serves every caller that waited for it, but
// never one that arrived after it started). ok is false when there is no
// change check (PostgreSQL) or it failed: the caller then queries.
func (d *Directory) current(ctx context.Context) (stamp, bool) {
	if d.engine != SQLite || d.readOnly {
		// Read-only: a one-message delivery (ebb deliver), which reads
		// each mailbox once: a kept connection would cost it more than
		// the query.
		return stamp{}, false
	}
	w := &d.watch
	arrived := w.started.Load()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lastAt > arrived {
		return w.last, true // started after we arrived, ended before we got the lock
	}
	n := w.started.Add(1)
	own := w.own.Load() // before the version: a write after it shows next time
	// The files before the version: a commit after this stat changes
	// them (fileStamp), so while they are as the last check found them,
	// and that check's stamp was settled, nothing committed since.
	before := time.Now()
	files, ferr := resolve.StampOf(d.where)
	if ferr == nil && w.settled && files == w.files && own == w.last.own && w.conn != nil {
		w.checks.Add(1)
		w.lastAt = n
		return w.last, true
	}
	if w.conn == nil {
		conn, err := d.db.Conn(ctx)
		if err != nil {
			return stamp{}, false
		}
		st, err := conn.PrepareContext(ctx, `PRAGMA data_version`)
		if err != nil {
			conn.Close()
			return stamp{}, false
		}
		w.conn, w.version = conn, st
		w.conns++
	}
	var v int64
	w.checks.Add(1)
	w.versions.Add(1)
	if err := w.version.QueryRowContext(ctx).Scan(&v); err != nil {
		w.closeConn()
		w.settled = false
		return stamp{}, false
	}
	s := stamp{conn: w.conns, data: v, own: own}
	w.last, w.lastAt = s, n
	w.files, w.settled = files, ferr == nil && settled(files, before)
	if s != w.seen {
		if w.seen != (stamp{}) {
			// Something committed since the last check: what the TTL
			// caches hold may be older than it.
			d.resolved.clear()
			d.domains.clear()
		}
		w.seen = s
	}
	return s, true
}

// settle is how long the database's files must have been left alone
// before their stat stands for PRAGMA data_version. A commit writes the
// -wal (or, in another journal mode, the database) and so sets its mtime
// and ctime to the time then: a commit after a stat whose times were all
// older than the stat by more than the clock's granularity (a few ms;
// settle is far more) cannot leave them as they were. A file changed
// within settle of the stat might be changed again within the same tick,
// unseen: its stamp is not trusted, and the next check asks SQLite.
var settle = time.Second

// settled reports whether every time in f is older than settle before at.
func settled(f resolve.Stamp, at time.Time) bool {
	limit := at.Add(-settle).UnixNano()
	for _, fs := range []resolve.FileState{f.DB, f.WAL} {
		if fs.Exists && (fs.Mtime >= limit || fs.Ctime >= limit) {
			return false
		}
	}
	return true
}

// closeConn drops the kept connection (an error on it, or Close). w.mu is
// held or the Directory is closing.
func (w *watch) closeConn() {
	if w.conn == nil {
		return
	}
	w.version.Close()
	w.conn.Close()
	w.conn, w.version = nil, nil
}

// MailboxNow is Mailbox as the database holds it now (without its
// password hash), for the delivery's quota: answered from what an earlier call read when the database has not
// changed since (see watch above), else read. An address with no mailbox
// is an error wrapping ErrNotFound, as Mailbox.
func (d *Directory) MailboxNow(ctx context.Context, address string) (*Mailbox, error) {
	s, ok := d.current(ctx)
	if !ok {
		d.watch.queries.Add(1)
		return d.Mailbox(ctx, address)
	}
	w := &d.watch
	w.cmu.RLock()
	k, hit := w.mailboxes[address]
	w.cmu.RUnlock()
	if hit && k.at == s {
		if k.mb == nil {
			return nil, k.err
		}
		c := *k.mb
		return &c, nil
	}
	w.queries.Add(1)
	mb, err := d.Mailbox(ctx, address) // read after s: at least as new as s
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	kept := keptMailbox{err: err, at: s}
	if mb != nil {
		mb.PasswordHash = "" // not needed for delivery; not kept in memory
		c := *mb
		kept.mb = &c
	}
	w.cmu.Lock()
	if w.mailboxes == nil || len(w.mailboxes) >= maxKept {
		w.mailboxes = map[string]keptMailbox{}
	}
	w.mailboxes[address] = kept
	w.cmu.Unlock()
	return mb, err
}

// MailboxQueries says how many mailbox queries and change checks
// MailboxNow made, and how many of the checks read PRAGMA data_version
// (tests: that the kept answers are used, and dropped).
func (d *Directory) MailboxQueries() (queries, checks, versions uint64) {
	return d.watch.queries.Load(), d.watch.checks.Load(), d.watch.versions.Load()
}
