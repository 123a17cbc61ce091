package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ebbmail/ebb/internal/journal"
)

// The journal in the shared database: every host appends its records
// (with its name), so that `ebb explain` on any host tells the story of a
// message whichever hosts it passed (journal.Follow joins the hops).
//
// Why the database and not each host's files asked by the others: one
// indexed query answers explain on any host, with no host having to be up
// or reachable from the others, and no listener or credentials between
// hosts; a host's files are read whole for every question. What it costs
// the message path is measured in bench/journal (docs/scaling.md): records
// are written in batches by one goroutine, never on the message's path.

// journalBatch is the most records one INSERT writes; journalLinger is how
// long the writer waits for more after the first.
const (
	journalBatch  = 200
	journalLinger = 20 * time.Millisecond
	journalBuffer = 8192
)

// JournalWriter appends journal records to the database in batches. A
// record that cannot be written there (the database away, the buffer
// full) goes to the fallback, the host's own journal files, so nothing
// is lost: explain on this host reads both.
type JournalWriter struct {
	c        *Cluster
	fallback func(journal.Record) error
	ch       chan journal.Record
	done     chan struct{}
	closed   atomic.Bool
	spilled  atomic.Uint64
	lost     atomic.Uint64
	mu       sync.Mutex
	lastWarn time.Time
}

// JournalWriter starts the writer; fallback keeps what the database
// cannot take.
func (c *Cluster) JournalWriter(fallback func(journal.Record) error) *JournalWriter {
	w := &JournalWriter{c: c, fallback: fallback, ch: make(chan journal.Record, journalBuffer), done: make(chan struct{})}
	go w.run()
	return w
}

// Append queues r for the database, stamped with this host's name. It
// never waits for the database.
func (w *JournalWriter) Append(r journal.Record) error {
	r.Host = w.c.host
	if r.Time.IsZero() {
		r.Time = w.c.now()
	}
	r.Time = r.Time.UTC()
	if w.closed.Load() {
		w.spill([]journal.Record{r}, "the writer is stopping")
		return nil
	}
	select {
	case w.ch <- r:
	default:
		w.spill([]journal.Record{r}, "the database writer is behind")
	}
	return nil
}

// Spilled is how many records went to the fallback instead; Lost how many
// the fallback could not take either.
func (w *JournalWriter) Spilled() uint64 { return w.spilled.Load() }
func (w *JournalWriter) Lost() uint64    { return w.lost.Load() }

// Close writes what is buffered (within a few seconds; the rest to the
// fallback) and stops the writer.
func (w *JournalWriter) Close() {
	if w.closed.Swap(true) {
		return
	}
	close(w.ch)
	<-w.done
}

func (w *JournalWriter) run() {
	defer close(w.done)
	for {
		r, ok := <-w.ch
		if !ok {
			return
		}
		batch := []journal.Record{r}
		timer := time.NewTimer(journalLinger)
	gather:
		for len(batch) < journalBatch {
			select {
			case r, ok := <-w.ch:
				if !ok {
					break gather
				}
				batch = append(batch, r)
			case <-timer.C:
				break gather
			}
		}
		timer.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := w.c.insertJournal(ctx, batch)
		cancel()
		if err != nil {
			w.spill(batch, err.Error())
		}
	}
}

// spill gives records to the fallback, saying so at most once a minute.
func (w *JournalWriter) spill(rs []journal.Record, why string) {
	w.spilled.Add(uint64(len(rs)))
	for _, r := range rs {
		if w.fallback == nil || w.fallback(r) != nil {
			w.lost.Add(1)
		}
	}
	w.mu.Lock()
	warn := time.Since(w.lastWarn) > time.Minute
	if warn {
		w.lastWarn = time.Now()
	}
	w.mu.Unlock()
	if warn {
		w.c.log.Warn("journal: records kept in this host's own journal files, not the shared database: ebb explain on other hosts lacks them",
			"records", len(rs), "why", why, "database", w.c.Where())
	}
}

var insertStmts sync.Map // batch size → statement

// journalCols are the columns insertJournal writes per record.
const journalCols = 10

func insertStmt(n int) string {
	if s, ok := insertStmts.Load(n); ok {
		return s.(string)
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO journal (t, host, queue_id, ref, err_ref, dsn_id, next_id, msgid, addrs, rec) VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for k := 1; k <= journalCols; k++ {
			if k > 1 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "$%d", i*journalCols+k)
		}
		b.WriteByte(')')
	}
	insertStmts.Store(n, b.String())
	return b.String()
}

func (c *Cluster) insertJournal(ctx context.Context, rs []journal.Record) error {
	args := make([]any, 0, len(rs)*journalCols)
	for i := range rs {
		r := &rs[i]
		b, err := journal.AppendJSON(nil, r) // the files' encoding
		if err != nil {
			return err
		}
		errRef := ""
		if r.Error != nil {
			errRef = r.Error.Ref
		}
		args = append(args, r.Time, r.Host, r.QueueID, r.Ref, errRef, r.DSNID, r.NextID,
			strings.Trim(r.MessageID, "<>"), addresses(r), string(b))
	}
	_, err := c.db.ExecContext(ctx, insertStmt(len(rs)), args...)
	return err
}

// addresses are the lower-case addresses a record is found by (Select's
// matchesAddress): From, Rcpt and To.
func addresses(r *journal.Record) []string {
	out := []string{}
	add := func(a string) {
		if a = strings.ToLower(a); a == "" {
			return
		}
		for _, x := range out {
			if x == a {
				return
			}
		}
		out = append(out, a)
	}
	add(r.From)
	add(r.Rcpt)
	for _, t := range r.To {
		add(t)
	}
	return out
}

// JournalSource reads the shared journal (journal.Source).
type JournalSource struct{ c *Cluster }

// JournalSource is the shared journal as a journal.Source.
func (c *Cluster) JournalSource() *JournalSource { return &JournalSource{c} }

func (s *JournalSource) Where() string { return s.c.Where() + " (table journal)" }

// Read finds the records that match q by the indexed columns, then every
// record of the messages they belong to, and lets journal.Select choose
// among them as it does among a host's files.
func (s *JournalSource) Read(ctx context.Context, q journal.Query) ([]journal.Record, int, error) {
	// Each condition repeats its partial index's predicate (col <> ''),
	// so that a prepared statement's generic plan may use the index too:
	// without it, PostgreSQL can prove col <> '' only from a value it
	// sees, and a generic plan reads the whole table.
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.Ref != "" {
		p := arg(q.Ref)
		conds = append(conds, "(ref = "+p+" AND ref <> '')", "(err_ref = "+p+" AND err_ref <> '')")
	}
	if q.QueueID != "" {
		p := arg(q.QueueID)
		conds = append(conds, "(queue_id = "+p+" AND queue_id <> '')", "(dsn_id = "+p+" AND dsn_id <> '')")
	}
	if id := strings.Trim(q.MessageID, "<>"); id != "" {
		conds = append(conds, "(msgid = "+arg(id)+" AND msgid <> '')")
	}
	if q.Address != "" {
		conds = append(conds, "addrs @> ARRAY["+arg(strings.ToLower(q.Address))+"]::text[]")
	}
	if q.NextID != "" {
		conds = append(conds, "(next_id = "+arg(q.NextID)+" AND next_id <> '')")
	}
	if len(conds) == 0 {
		return nil, 0, nil
	}
	since := q.Since
	if since.IsZero() {
		since = time.Unix(0, 0)
	}
	sinceArg := arg(since)
	first, bad, err := s.query(ctx, `SELECT rec FROM journal WHERE (`+strings.Join(conds, " OR ")+`) AND t >= `+sinceArg, args...)
	if err != nil {
		return nil, 0, err
	}
	var ids []string
	have := map[string]bool{}
	for _, r := range first {
		if r.QueueID != "" && !have[r.QueueID] {
			have[r.QueueID] = true
			ids = append(ids, r.QueueID)
		}
	}
	all := first
	if len(ids) > 0 {
		rest, n, err := s.query(ctx, `SELECT rec FROM journal WHERE queue_id = ANY($1) AND queue_id <> '' AND t >= $2`, ids, since)
		if err != nil {
			return nil, 0, err
		}
		bad += n
		all = append(all, rest...)
	}
	// Each record once (the second query finds the first's again).
	return journal.Select(journal.Unique(all), q), bad, nil
}

func (s *JournalSource) query(ctx context.Context, query string, args ...any) ([]journal.Record, int, error) {
	rows, err := s.c.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, s.c.fail("read the journal", err)
	}
	defer rows.Close()
	var out []journal.Record
	bad := 0
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, 0, s.c.fail("read the journal", err)
		}
		var r journal.Record
		if json.Unmarshal([]byte(b), &r) != nil {
			bad++
			continue
		}
		out = append(out, r)
	}
	return out, bad, s.c.fail("read the journal", rows.Err())
}

// pruneJournal drops the records older than retention.
func (c *Cluster) pruneJournal(ctx context.Context, before time.Time) error {
	_, err := c.db.ExecContext(ctx, `DELETE FROM journal WHERE t < $1`, before)
	return err
}
