package safeio

import (
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// FSGroup shares syncfs(2) flushes per filesystem between every caller in
// the process: ebb serve's receivers (the spool's data and envelope) and
// its delivery workers (a Maildir file before its link, the link after)
// wait for the same flush instead of each flushing alone. One syncfs
// writes every dirty page and inode of the filesystem and flushes the
// device cache, so it covers all of them; with Group's rule nobody returns
// before a flush that began after its call, so the guarantee is that of an
// fsync of each file and directory. Since Linux 5.8 syncfs reports any
// writeback error on the filesystem (the superblock's error sequence), a
// closed file's included.
//
// The zero value is ready. Filesystems are told apart by st_dev; each
// keeps one open directory to call syncfs on, so memory stays flat.
type FSGroup struct {
	mu  sync.Mutex
	fss map[uint64]*fsEntry
}

type fsEntry struct {
	g Group
	d *os.File
}

// Sync returns once a syncfs of dir's filesystem that began after the
// call has finished, with its error.
func (f *FSGroup) Sync(dir string) error { return f.SyncWithin(dir, 0) }

// SyncWithin is Sync for a caller that can wait up to linger for another
// caller's flush to begin before it starts one (Group.DoWithin).
func (f *FSGroup) SyncWithin(dir string, linger time.Duration) error {
	e, err := f.entry(dir)
	if err != nil {
		return err
	}
	return e.g.DoWithin(linger)
}

// entry is the flush group of dir's filesystem, made on first use.
func (f *FSGroup) entry(dir string) (*fsEntry, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	dev := uint64(st.Dev)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fss == nil {
		f.fss = map[uint64]*fsEntry{}
	}
	e := f.fss[dev]
	if e == nil {
		d, err := os.Open(dir)
		if err != nil {
			return nil, err
		}
		e = &fsEntry{d: d}
		e.g.Flush = func() error {
			if err := unix.Syncfs(int(e.d.Fd())); err != nil {
				return &os.PathError{Op: "syncfs", Path: e.d.Name(), Err: err}
			}
			return nil
		}
		f.fss[dev] = e
	}
	return e, nil
}

// Bound is an FSGroup's flush of one directory's filesystem, found once:
// Sync stats its directory at every call to tell filesystems apart, which
// a caller that always flushes the same directory (the spool, once per
// message) need not pay.
type Bound struct{ e *fsEntry }

// Bind finds dir's filesystem in f.
func (f *FSGroup) Bind(dir string) (Bound, error) {
	e, err := f.entry(dir)
	return Bound{e}, err
}

// Sync is FSGroup.Sync of the bound directory.
func (b Bound) Sync() error { return b.e.g.DoWithin(0) }

// Lingering is f for a caller that has time: its Sync waits up to linger
// for someone else's flush (SyncWithin). ebb serve's delivery workers use
// it, so that their flushes ride on the receives' ones.
func (f *FSGroup) Lingering(linger time.Duration) LingeringFS {
	return LingeringFS{g: f, linger: linger}
}

// LingeringFS is an FSGroup whose Sync lingers (FSGroup.Lingering).
type LingeringFS struct {
	g      *FSGroup
	linger time.Duration
	// With SameFS: only dev's filesystem is shared (Shares).
	restricted bool
	dev        uint64
	devOK      bool
}

// SameFS restricts l to the filesystem dir is on: Shares then reports
// whether another directory is on it too (st_dev), so that a caller
// (maildir.Namer) fsyncs directories elsewhere itself, and Sync, called
// only for a directory Shares reported, flushes that filesystem. A syncfs there
// would write every other program's dirty data on that filesystem as
// well. If dir cannot be examined, nothing is shared.
func (l LingeringFS) SameFS(dir string) LingeringFS {
	l.restricted = true
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err == nil {
		l.dev, l.devOK = uint64(st.Dev), true
	}
	return l
}

// Shares reports whether l flushes dir: always, unless SameFS restricted
// it to another filesystem.
func (l LingeringFS) Shares(dir string) bool {
	if !l.restricted {
		return true
	}
	var st syscall.Stat_t
	return l.devOK && syscall.Stat(dir, &st) == nil && uint64(st.Dev) == l.dev
}

// Sync is FSGroup.SyncWithin with the linger. Restricted by SameFS, it
// flushes that filesystem, found by the st_dev SameFS read, without a stat
// of dir: its caller asked Shares(dir) first (a Maildir delivery stat'ed
// tmp/ and new/ twice each per message).
func (l LingeringFS) Sync(dir string) error {
	if l.restricted && l.devOK {
		l.g.mu.Lock()
		e := l.g.fss[l.dev]
		l.g.mu.Unlock()
		if e != nil {
			return e.g.DoWithin(l.linger)
		}
	}
	return l.g.SyncWithin(dir, l.linger)
}

// Flushes is how many syncfs calls have finished, over all filesystems.
func (f *FSGroup) Flushes() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n uint64
	for _, e := range f.fss {
		n += e.g.Flushes()
	}
	return n
}
