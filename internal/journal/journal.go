// Package journal keeps every message's story after it has left the
// queue: one JSON line per event (received, each check, each delivery
// attempt, DSNs, operator actions) in an append-only file per day under
// journal.dir, removed after journal.retention. `ebb explain` reads it.
//
// Why files of JSON lines and not SQLite: an event is written once and
// read rarely, so an append (one write(2) of a few hundred bytes, no
// fsync) is the cheapest durable-enough record there is; the queue itself
// stays the record of what is owed (nothing is lost if the journal's last
// lines are). A crash can leave a torn last line: a reader skips any line
// that does not parse, so a journal is never corrupt, only shorter.
package journal

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

// Record is one event of one message.
type Record struct {
	Time time.Time `json:"t"`
	// Event: received, check, delivered, deferred, failed, expired, dsn,
	// removed, operation; refused (at MAIL, RCPT or DATA: Stage, Reply,
	// Ref), repeated (how many refusals shared a refused record's Ref:
	// Count, First) and not-queued (our trouble before a queue id: Error,
	// Ref).
	Event   string `json:"ev"`
	QueueID string `json:"id"` // "" for a refusal before a queue id existed: Ref is its key
	// Ref is the reference id a client, the log or mailq showed (refused,
	// not-queued); explain REF finds the record by it.
	Ref   string `json:"ref,omitempty"`
	Stage string `json:"stage,omitempty"` // refused: mail, rcpt, data
	Reply string `json:"reply,omitempty"` // refused: the reply as sent, "550 5.1.1 ..."

	// received
	From      string   `json:"from,omitempty"`
	To        []string `json:"to,omitempty"`
	MessageID string   `json:"msgid,omitempty"`
	Subject   string   `json:"subject,omitempty"`
	// Unshown: the fields (Message-ID, Subject) the header holds only
	// past its first 64 KiB, not read for this record.
	Unshown  []string `json:"unshown,omitempty"`
	Size     int64    `json:"size,omitempty"`
	Client   string   `json:"client,omitempty"`
	Helo     string   `json:"helo,omitempty"`
	Auth     string   `json:"auth,omitempty"`
	Proto    string   `json:"proto,omitempty"`
	Listener string   `json:"listener,omitempty"`

	// attempts
	Rcpt     string      `json:"rcpt,omitempty"`
	Route    string      `json:"route,omitempty"`
	Attempt  int         `json:"attempt,omitempty"`
	Millis   int64       `json:"ms,omitempty"`
	Next     time.Time   `json:"next,omitzero"`
	Error    *diag.Error `json:"error,omitempty"`
	DSNID    string      `json:"dsn_id,omitempty"`
	Detail   string      `json:"detail,omitempty"` // a sentence: where it was stored, what a check found
	Files    []string    `json:"files,omitempty"`  // local delivery: the stored files
	UID      int         `json:"uid,omitempty"`    // local delivery: as which uid
	Outcome  string      `json:"outcome,omitempty"`
	Checker  string      `json:"checker,omitempty"` // check: which part judged
	Verdicts string      `json:"verdicts,omitempty"`
	// NextID is the queue id the next hop gave a relayed message ("250
	// ... queued as ID"): where its story goes on when that hop is an
	// ebb host of the same cluster (Follow).
	NextID string `json:"next_id,omitempty"`
	// Host is the host that wrote the record, in a journal several hosts
	// share (internal/cluster); "" in a host's own files.
	Host string `json:"host,omitempty"`
	// Count and First, on a "repeated" record: how many refusals shared
	// its Ref in all (the first included: the "refused" record of the
	// same Ref), from First to Time. Refusals of one kind from one source
	// within a minute share one ref and one record (the journal's bound,
	// internal/smtpd/flood.go).
	Count int       `json:"count,omitempty"`
	First time.Time `json:"first,omitzero"`
}

// Journal appends records to the file of their day.
type Journal struct {
	dir       string
	retention time.Duration
	now       func() time.Time

	mu     sync.Mutex
	y, d   int // the open file's day (fileName)
	m      time.Month
	f      *os.File
	pruned string // the day of the last prune
}

// Open makes dir (0750) if needed and removes files older than
// retention.
func Open(dir string, retention time.Duration, now func() time.Time) (*Journal, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	j := &Journal{dir: dir, retention: retention, now: now}
	j.Prune()
	return j, nil
}

// Dir is where the journal's files are.
func (j *Journal) Dir() string { return j.dir }

// linePool lends the buffers records are encoded in (AppendJSON): one
// per record would be most of what the journal allocates.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// fileName is the file of the day t falls on, in UTC.
func fileName(t time.Time) string { return t.UTC().Format("2006-01-02") + ".jsonl" }

// Append writes r as one line with one write(2) (O_APPEND), so that
// concurrent writers never interleave and a crash tears at most the last
// line. It is not fsynced: see the package comment.
func (j *Journal) Append(r Record) error {
	if r.Time.IsZero() {
		r.Time = j.now()
	}
	r.Time = r.Time.UTC()
	bp := linePool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 { // a record with a huge text is not kept
			linePool.Put(bp)
		}
	}()
	b, err := AppendJSON((*bp)[:0], &r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	*bp = b
	j.mu.Lock()
	defer j.mu.Unlock()
	if y, m, d := r.Time.Date(); j.f == nil || j.y != y || j.m != m || j.d != d {
		day := fileName(r.Time)
		if j.f != nil {
			j.f.Close()
		}
		f, err := os.OpenFile(filepath.Join(j.dir, day), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			j.f = nil
			return err
		}
		j.f, j.y, j.m, j.d = f, y, m, d
		// A crash may have torn the last line: start on a new one, so
		// that only the torn record is lost, not the next one too.
		if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
			last := make([]byte, 1)
			if r, err := os.Open(filepath.Join(j.dir, day)); err == nil {
				if _, err := r.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
					f.Write([]byte{'\n'})
				}
				r.Close()
			}
		}
		if j.pruned != day {
			j.pruneLocked()
		}
	}
	_, err = j.f.Write(b)
	return err
}

// Close closes the current file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// Prune removes the files of days that ended more than retention ago.
func (j *Journal) Prune() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pruneLocked()
}

func (j *Journal) pruneLocked() {
	now := j.now()
	j.pruned = fileName(now)
	if j.retention <= 0 {
		return
	}
	ents, _ := os.ReadDir(j.dir)
	for _, e := range ents {
		day, ok := strings.CutSuffix(e.Name(), ".jsonl")
		if !ok {
			continue
		}
		t, err := time.Parse("2006-01-02", day)
		if err != nil {
			continue
		}
		if now.Sub(t.Add(24*time.Hour)) > j.retention {
			os.Remove(filepath.Join(j.dir, e.Name()))
		}
	}
}

// Query selects records.
type Query struct {
	QueueID   string    // one message (and the DSNs it caused)
	Ref       string    // the record(s) of a reference id, and the whole message when it has a queue id
	MessageID string    // with or without <>
	Address   string    // to or from this address
	Since     time.Time // zero: everything kept
	// NextID: the message a hop relayed to the one that queued it as
	// NextID (Follow's way back).
	NextID string
}

// Source is where a journal is read from: one host's files (Files), or
// the database several hosts share (internal/cluster).
type Source interface {
	// Read returns the records that match q as Select chooses them,
	// oldest first, and how many unreadable ones were skipped.
	Read(ctx context.Context, q Query) ([]Record, int, error)
	// Where names it for people: a directory, or a database.
	Where() string
}

// Files is the journal in a directory (journal.dir) as a Source.
type Files string

func (f Files) Read(_ context.Context, q Query) ([]Record, int, error) { return Read(string(f), q) }
func (f Files) Where() string                                          { return string(f) }

// Read returns the records in dir that match q, oldest first, and how
// many torn or unreadable lines were skipped. For a QueueID or MessageID
// every record of the matching messages is returned; for an Address, every
// record of each message to or from it.
func Read(dir string, q Query) ([]Record, int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, 0, err
	}
	if len(files) == 0 {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, 0, err
		}
	}
	sort.Strings(files)
	var all []Record
	skipped := 0
	for _, f := range files {
		day, _ := strings.CutSuffix(filepath.Base(f), ".jsonl")
		if t, err := time.Parse("2006-01-02", day); err == nil && !q.Since.IsZero() && t.Add(24*time.Hour).Before(q.Since) {
			continue
		}
		recs, bad, err := readFile(f)
		if err != nil {
			return nil, skipped, err
		}
		skipped += bad
		all = append(all, recs...)
	}
	return Select(all, q), skipped, nil
}

// Select returns the records of all that q asks for, oldest first: for a
// QueueID, MessageID or NextID every record of the matching messages; for
// a Ref its records and its message's; for an Address every record of
// each message to or from it.
func Select(all []Record, q Query) []Record {
	ids := map[string]bool{}
	msgid := strings.Trim(q.MessageID, "<>")
	addr := strings.ToLower(q.Address)
	for _, r := range all {
		if !q.Since.IsZero() && r.Time.Before(q.Since) {
			continue
		}
		switch {
		case q.Ref != "" && r.QueueID != "" && r.HasRef(q.Ref):
			ids[r.QueueID] = true
		case q.QueueID != "" && (r.QueueID == q.QueueID || r.DSNID == q.QueueID):
			ids[r.QueueID] = true
		case msgid != "" && r.Event == "received" && strings.Trim(r.MessageID, "<>") == msgid:
			ids[r.QueueID] = true
		case addr != "" && matchesAddress(r, addr):
			ids[r.QueueID] = true
		case q.NextID != "" && r.NextID == q.NextID && r.QueueID != "":
			ids[r.QueueID] = true
		}
	}
	var out []Record
	for _, r := range all {
		keyed := ids[r.QueueID] && r.QueueID != "" || q.Ref != "" && r.QueueID == "" && r.HasRef(q.Ref) ||
			addr != "" && r.QueueID == "" && matchesAddress(r, addr)
		if keyed && (q.Since.IsZero() || !r.Time.Before(q.Since)) {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, k int) bool { return out[i].Time.Before(out[k].Time) })
	return out
}

// HasRef reports whether ref is the record's reference id or its error's.
func (r *Record) HasRef(ref string) bool {
	return r.Ref == ref || r.Error != nil && r.Error.Ref == ref
}

// Key is what a record is found by: its queue id, or its ref when the
// message never had one.
func (r *Record) Key() string {
	if r.QueueID != "" {
		return r.QueueID
	}
	return "ref " + r.Ref
}

func matchesAddress(r Record, addr string) bool {
	if strings.ToLower(r.From) == addr || strings.ToLower(r.Rcpt) == addr {
		return true
	}
	for _, t := range r.To {
		if strings.ToLower(t) == addr {
			return true
		}
	}
	return false
}

// readFile reads one day's file; a line that does not parse (a torn last
// line after a crash) is counted and skipped.
func readFile(path string) ([]Record, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var out []Record
	bad := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil || r.QueueID == "" && r.Ref == "" {
			bad++
			continue
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return out, bad, fmt.Errorf("read %s: %w", path, err)
	}
	return out, bad, nil
}
