// Package queue is ebb's durable queue: the one place where receiving and
// delivering meet (as in Postfix, smtpd never calls maildir).
//
// A message is streamed once into the spool as the data file queue/<id>.msg;
// its envelope and per-recipient state live beside it in queue/<id>.env
// (JSON). Receive returns only after both are durable: the data file and the
// envelope are fsynced, and the directory is fsynced (shared by concurrent
// receivers: group commit). The data file is never rewritten: headers ebb
// adds are kept in the envelope as a prefix and written at delivery time.
//
// The scheduler (Run) hands due recipients to a Transport with a bounded
// number of workers, backs off exponentially with jitter, expires messages
// after queue.lifetime and sends DSNs (RFC 3464) to the envelope sender.
//
// One process owns a spool at a time (LockFile). Commands reach the running
// owner through the control socket (ControlSocket); without an owner they
// change the spool files directly.
package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
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

// QueueDir is the directory under the spool that holds <id>.msg and <id>.env.
const QueueDir = "queue"

// CorruptDir receives envelope files that cannot be read, with their data.
const CorruptDir = "corrupt"

const (
	dataExt = ".msg"
	envExt  = ".env"
)

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

// own gives path the spool's owner (see Queue.owner).
func (q *Queue) own(path string) {
	if q.owner != nil {
		os.Lchown(path, q.owner[0], q.owner[1])
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

// load reads the spool after a start: every readable envelope becomes a
// queued message; what a crash left half-done is removed or set aside.
func (q *Queue) load() error {
	des, err := os.ReadDir(q.dir)
	if err != nil {
		return diag.PathError(Component, "readdir", "read the queue directory", q.dir, err, q.cfg.Setting("queue.spool"))
	}
	names := map[string]bool{}
	for _, de := range des {
		names[de.Name()] = true
	}
	for _, de := range des {
		name := de.Name()
		switch {
		case strings.HasPrefix(name, "."):
			// A temporary file of a write that a crash interrupted: its
			// write never completed, so nothing refers to it.
			q.log.Info("removing an unfinished temporary file", "path", filepath.Join(q.dir, name))
			os.Remove(filepath.Join(q.dir, name))
		case strings.HasSuffix(name, dataExt):
			id := strings.TrimSuffix(name, dataExt)
			if !names[id+envExt] {
				// Data without an envelope: the receive did not finish,
				// so it was never acknowledged.
				q.log.Info("removing the data of an unfinished receive", "queue_id", id, "path", filepath.Join(q.dir, name))
				os.Remove(filepath.Join(q.dir, name))
			}
		case strings.HasSuffix(name, envExt):
			id := strings.TrimSuffix(name, envExt)
			path := filepath.Join(q.dir, name)
			m, err := readMessage(path)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				q.setAside(id, err)
				continue
			}
			if m.ID != id {
				q.setAside(id, fmt.Errorf("envelope names id %s", m.ID))
				continue
			}
			if !names[id+dataExt] {
				q.setAside(id, errors.New("the data file is missing"))
				continue
			}
			m.DataPath = q.dataPath(id)
			e := &entry{id: id, msg: m, hidx: -1}
			e.counts = m.counts()
			e.held = m.Held
			q.entries[id] = e
			if !m.Held {
				q.scheduleLocked(e, m.nextDue(q.now()))
			}
		}
	}
	if n := len(q.entries); n > 0 {
		q.log.Info("queue loaded", "messages", n, "spool", q.spool)
	}
	return nil
}

// setAside moves an unreadable envelope and its data to spool/corrupt/,
// where mailq reports them, instead of deleting what might be mail.
func (q *Queue) setAside(id string, why error) {
	dst := filepath.Join(q.spool, CorruptDir)
	os.MkdirAll(dst, 0o700)
	q.own(dst)
	for _, ext := range []string{envExt, dataExt} {
		src := filepath.Join(q.dir, id+ext)
		if _, err := os.Lstat(src); err == nil {
			os.Rename(src, filepath.Join(dst, id+ext))
		}
	}
	q.log.Error("set aside an unreadable queue entry", "queue_id", id, "dir", dst, "err", why.Error())
}

func (q *Queue) dataPath(id string) string { return filepath.Join(q.dir, id+dataExt) }
func (q *Queue) envPath(id string) string  { return filepath.Join(q.dir, id+envExt) }

// readMessage reads and decodes one envelope file.
func readMessage(path string) (*Message, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeMessage(b)
}

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

// persist writes the message's envelope durably. The caller holds e.mu.
func (q *Queue) persist(m *Message) error {
	b, err := encodeMessage(m)
	if err != nil {
		return err
	}
	if err := writeEnvelope(q.envPath(m.ID), b); err != nil {
		return err
	}
	q.own(q.envPath(m.ID))
	return nil
}

// remove deletes a message's files: envelope first, so that a crash between
// the two leaves only data, which the next start removes.
func (q *Queue) remove(id string) error {
	if err := os.Remove(q.envPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Remove(q.dataPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
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
