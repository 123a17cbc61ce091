// Package queue is ebb's durable queue: the one place where receiving and
// delivering meet (as in Postfix, smtpd never calls maildir).
//
// A message is one file in the spool, queue/<id>.q: the data streamed in as
// it arrives, then its envelope and per-recipient state (JSON) and a short
// trailer (spoolfile.go). Receive returns only after it is durable: the
// file is fsynced (or its filesystem synced) and so is the directory,
// in flushes shared by concurrent receivers (group commit). The data is
// never rewritten: headers ebb adds are kept in the envelope as a prefix
// and written at delivery time, and readers take the data through
// Message.OpenData, which stops where the envelope begins. When the
// envelope changes (an attempt deferred, a hold) it is written whole to
// queue/<id>.state, which wins over the copy in <id>.q; most messages are
// delivered at the first attempt and never have one. One file per message
// instead of a data file and an envelope file saves a create, a rename
// and an unlink per message, and half the inodes.
//
// What a crash can leave, and what a start does with it (load): a message
// file without its trailer is a receive that never finished (never
// acknowledged): removed; an <id>.state without its message file is a
// removal cut short: removed; a temporary file (".name"): removed;
// anything unreadable: set aside in spool/corrupt/, which mailq reports. A
// spool written by an ebb before this format (<id>.msg and <id>.env) is
// converted at start, each message by a step that a crash lets repeat.
//
// The scheduler (Run) hands due recipients to a Transport with a bounded
// number of workers, backs off exponentially with jitter, expires messages
// after queue.lifetime and decides which DSNs the envelope sender gets
// (NOTIFY, RET, never to <>); internal/dsn writes them (RFC 3464).
//
// One process owns a spool at a time (LockFile). Commands reach the running
// owner through the control socket (ControlSocket); without an owner they
// change the spool files directly.
package queue

import (
	"errors"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/safeio"
)

// Component names the queue in diag errors.
const Component = "ebb queue"

// QueueDir is the directory under the spool that holds the messages
// (<id>.q, and <id>.state for those whose envelope changed).
const QueueDir = "queue"

// CorruptDir receives the files of messages that cannot be read.
const CorruptDir = "corrupt"

// settings are the queue's config values.
type settings struct {
	lifetime       time.Duration
	delayNotice    time.Duration
	retryMin       time.Duration
	retryMax       time.Duration
	workers        int
	attemptTimeout time.Duration
	stopTimeout    time.Duration
	hostname       string
	syncfs         bool // queue.sync = "filesystem"
}

// Queue is an open spool. It is safe for concurrent use.
type Queue struct {
	cfg   *config.Config
	set   settings
	log   *slog.Logger
	spool string
	dir   string // spool/queue
	lock  *spoolLock
	dsync flusher // group commit of received messages (receive.go)
	// fs is the per-filesystem syncfs group with queue.sync = "filesystem"
	// (nil with "files"): the receive's flushes, and those of any delivery
	// given it (SharedFlush), are one.
	fs *safeio.FSGroup
	// owner is the spool's owner when we run as root and it is someone
	// else: files we create get that owner, so that the daemon (running as
	// server.user) can still read what a root `ebb queue` command wrote.
	owner *[2]int

	mu      sync.Mutex
	entries map[string]*entry
	ready   []*entry
	waiting timeHeap
	wake    chan struct{}
	closed  bool
	stats   counters
	// resume is Transports.Resume of the running Run (FlushDomain).
	resume func(domain string) int
	// running: Run delivers (a flush then needs no envelope write).
	running bool

	// observer gets every event (observer.go): the journal. Atomic, so
	// that reporting an event never takes q.mu on the delivery path.
	observer atomic.Pointer[Observer]

	// now is the clock; tests of expiry move it.
	now func() time.Time
	rnd *rand.Rand
}

// entry is one message in memory.
type entry struct {
	id string
	// mu is held during a delivery round and while the message changes.
	mu  sync.Mutex
	msg *Message

	// Guarded by Queue.mu.
	queued  bool      // in Queue.ready
	busy    bool      // a worker is on it
	flush   bool      // retry deferred recipients at once
	due     time.Time // when in Queue.waiting
	hidx    int       // index in Queue.waiting, -1 when not there
	removed bool
	counts  map[State]int
	held    bool
}

// Open opens (creating it when missing) the spool of cfg, takes its lock and
// loads every queued message. A second instance on the same spool is refused
// with an error that names the lock file and the pid holding it.
func Open(cfg *config.Config, log *slog.Logger) (*Queue, error) {
	return open(cfg, log, 2*time.Second)
}

func open(cfg *config.Config, log *slog.Logger, wait time.Duration) (*Queue, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	spool := cfg.Queue.Spool
	setting := cfg.Setting("queue.spool")
	dir := filepath.Join(spool, QueueDir)
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return nil, diag.PathError(Component, "mkdir", "create the spool directory", spool, err, setting)
	}
	l, err := lock(spool, wait)
	if err != nil {
		return nil, lockError(Component, spool, err, setting)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		l.release()
		return nil, diag.PathError(Component, "mkdir", "create the queue directory", dir, err, setting)
	}
	host := cfg.Server.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	q := &Queue{
		cfg:   cfg,
		log:   log,
		spool: spool,
		dir:   dir,
		lock:  l,
		set: settings{
			lifetime:       cfg.Queue.Lifetime.Duration,
			delayNotice:    cfg.Queue.DelayNotice.Duration,
			retryMin:       cfg.Queue.RetryMin.Duration,
			retryMax:       cfg.Queue.RetryMax.Duration,
			workers:        max(cfg.Queue.Workers, 1),
			attemptTimeout: cfg.Queue.AttemptTimeout.Duration,
			stopTimeout:    cfg.Queue.StopTimeout.Duration,
			hostname:       host,
			syncfs:         cfg.Queue.Sync != "files",
		},
		entries: map[string]*entry{},
		wake:    make(chan struct{}, 1),
		now:     time.Now,
		rnd:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	q.dsync = q.newDirSync()
	if st, err := os.Stat(spool); err == nil && os.Geteuid() == 0 {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid != 0 {
			q.owner = &[2]int{int(sys.Uid), int(sys.Gid)}
			q.own(filepath.Join(spool, LockFile))
			q.own(dir)
		}
	}
	if q.set.retryMin <= 0 {
		q.set.retryMin = time.Second
	}
	if q.set.retryMax < q.set.retryMin {
		q.set.retryMax = q.set.retryMin
	}
	if err := q.load(); err != nil {
		l.release()
		return nil, err
	}
	return q, nil
}

// own gives path the spool's owner (see Queue.owner). A path it cannot
// give stays root's, and that is said: ebb serve, running as server.user,
// may then fail to read or remove it, and its own error follows.
func (q *Queue) own(path string) {
	if q.owner == nil {
		return
	}
	if err := os.Lchown(path, q.owner[0], q.owner[1]); err != nil {
		e := diag.PathError(Component, "chown", "give the spool's owner (uid "+strconv.Itoa(q.owner[0])+", gid "+strconv.Itoa(q.owner[1])+") to", path, err, q.cfg.Setting("queue.spool"))
		q.log.Warn("queue: a file made as root keeps root's owner; ebb serve (server.user) may not read or remove it", "path", path, "diag", e)
	}
}

// Spool is the spool directory.
func (q *Queue) Spool() string { return q.spool }

// Close releases the spool lock. Run must have returned.
func (q *Queue) Close() error {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.lock.release()
	return nil
}

// load reads the spool after a start: every readable message becomes a
// queued one; what a crash left half-done is removed or set aside (see the
// package comment), and messages of the format before are converted. A
// conversion that fails stops the start with an error that names the file:
// the message stays as it was, for the next start.
func (q *Queue) load() error {
	setting := q.cfg.Setting("queue.spool")
	ents, temps, err := scanSpool(q.dir)
	if err != nil {
		return diag.PathError(Component, "readdir", "read the queue directory", q.dir, err, setting)
	}
	for _, t := range temps {
		// A temporary file of a write that a crash interrupted: its
		// write never completed, so nothing refers to it.
		q.log.Info("removing an unfinished temporary file", "path", t)
		os.Remove(t)
	}
	converted := 0
	for _, se := range ents {
		m, kind, err := readEntry(se)
		switch kind {
		case kindUnfinished:
			for _, p := range []string{se.msgPath, se.oldDataPath} {
				if _, serr := os.Lstat(p); serr == nil {
					q.log.Info("removing the data of an unfinished receive", "queue_id", se.id, "path", p)
					os.Remove(p)
				}
			}
			continue
		case kindRemoved:
			q.log.Info("removing the envelope of a message whose removal a crash interrupted", "queue_id", se.id, "path", se.statePath)
			os.Remove(se.statePath)
			continue
		case kindDamaged:
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			q.setAside(se.id, err)
			continue
		case kindOld:
			if cerr := q.convertOld(se, m); cerr != nil {
				return diag.PathError(Component, "convert", "convert to the one-file spool format the message", se.oldDataPath, cerr, setting)
			}
			converted++
		case kindMessage:
			// Files of the format before beside a message file: a
			// conversion that a crash interrupted after its rename.
			if se.oldEnv {
				os.Remove(se.oldEnvPath)
			}
			if se.oldData {
				os.Remove(se.oldDataPath)
			}
		}
		e := &entry{id: se.id, msg: m, hidx: -1}
		e.counts = m.counts()
		e.held = m.Held
		q.entries[se.id] = e
		if !m.Held {
			q.scheduleLocked(e, m.nextDue(q.now()))
		}
	}
	if converted > 0 {
		q.log.Info("converted queued messages to the one-file spool format", "messages", converted, "spool", q.spool)
	}
	if n := len(q.entries); n > 0 {
		q.log.Info("queue loaded", "messages", n, "spool", q.spool)
	}
	return nil
}

// setAside moves an unreadable message's files to spool/corrupt/, where
// mailq reports them, instead of deleting what might be mail.
// One that cannot be moved stays where it is (mailq lists it as damaged
// there too), and the log says so rather than that it was set aside.
func (q *Queue) setAside(id string, why error) {
	dst := filepath.Join(q.spool, CorruptDir)
	err := os.MkdirAll(dst, 0o700)
	if err == nil {
		q.own(dst)
	}
	for _, ext := range []string{msgExt, stateExt, oldEnvExt, oldDataExt} {
		src := filepath.Join(q.dir, id+ext)
		if _, lerr := os.Lstat(src); lerr == nil && err == nil {
			err = os.Rename(src, filepath.Join(dst, id+ext))
		}
	}
	if err != nil {
		q.log.Error("cannot set aside an unreadable queue entry: it stays in the queue directory (mailq lists it as damaged)",
			"queue_id", id, "dir", q.dir, "corrupt_dir", dst, "err", why.Error(), "move_err", err.Error())
		return
	}
	q.log.Error("set aside an unreadable queue entry", "queue_id", id, "dir", dst, "err", why.Error())
}

func (q *Queue) msgPath(id string) string   { return filepath.Join(q.dir, id+msgExt) }
func (q *Queue) statePath(id string) string { return filepath.Join(q.dir, id+stateExt) }

// nextDue is when the message should be looked at again: now when a
// recipient is pending, else the earliest deferred recipient's next attempt.
// The zero time means nothing is left to do.
func (m *Message) nextDue(now time.Time) time.Time {
	var due time.Time
	for _, r := range m.Recipients {
		var t time.Time
		switch r.State {
		case Pending:
			t = now
		case Deferred:
			t = r.Next
			if t.IsZero() {
				t = now
			}
		case Failed:
			if !r.Notified {
				t = now
			}
		default:
			continue
		}
		if t.IsZero() {
			continue
		}
		if due.IsZero() || t.Before(due) {
			due = t
		}
	}
	if due.IsZero() && m.done() {
		// Everything final: due at once so that the message is removed.
		return now
	}
	return due
}

// persist writes the message's changed envelope durably, as <id>.state.
// The caller holds e.mu.
func (q *Queue) persist(m *Message) error {
	b, err := encodeMessage(m)
	if err != nil {
		return err
	}
	path := q.statePath(m.ID)
	if err := writeEnvelope(path, b); err != nil {
		return err
	}
	m.state = true
	q.own(path)
	return nil
}

// remove deletes a message's files: the message file first, so that a
// crash between the two leaves only an <id>.state, which the next start
// removes (the other way round, the message would come back with the
// envelope it arrived with, and be delivered again).
func (q *Queue) remove(m *Message) error {
	if err := os.Remove(m.File); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if m.state {
		if err := os.Remove(q.statePath(m.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Lookup returns a copy of the queued message id, for show.
func (q *Queue) Lookup(id string) (*Message, bool) {
	q.mu.Lock()
	e := q.entries[id]
	q.mu.Unlock()
	if e == nil {
		return nil, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.msg == nil {
		return nil, false
	}
	return e.msg.clone(), true
}
