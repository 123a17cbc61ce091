package safeio

import (
	"sync"
	"time"
)

// Group shares one flush (an fsync, a syncfs) between concurrent callers:
// group commit. A caller that arrives while a flush runs waits for the
// next one, which covers every caller waiting by then: nobody returns
// before a flush that started after its call, so the guarantee is that of
// calling Flush oneself. Each waiter of a failed flush gets its error.
// Flush must be set before the first Do.
type Group struct {
	Flush func() error

	mu      sync.Mutex
	cond    *sync.Cond
	running bool
	started uint64 // generation of the flush running or last started
	done    uint64 // generation of the last finished flush
	// wants holds, for each generation somebody waits for, how many wait
	// and that flush's error. An entry lives until its last waiter has
	// read it, so no waiter, however late it wakes, can miss a failed
	// flush and acknowledge data that is not on disk (it would, were old
	// errors dropped by count). It holds at most one entry per waiting
	// caller: memory stays flat.
	wants map[uint64]*want
}

type want struct {
	waiters int
	err     error
}

// Do returns once a flush that started after the call has finished, with
// that flush's error.
func (g *Group) Do() error { return g.DoWithin(0) }

// DoWithin is Do for a caller that can wait: for up to linger it starts no
// flush itself but waits for someone else's to begin (a receive's, whose
// client is waiting), then starts one if nobody did. A delivery worker's
// flush thus rides on the next receive's instead of adding one of its own;
// the guarantee is the same as Do's.
func (g *Group) DoWithin(linger time.Duration) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
		g.wants = map[uint64]*want{}
	}
	// The flush that covers us is the first one that starts from now on.
	wantGen := g.started + 1
	w := g.wants[wantGen]
	if w == nil {
		w = &want{}
		g.wants[wantGen] = w
	}
	w.waiters++
	var deadline time.Time
	if linger > 0 {
		deadline = time.Now().Add(linger)
		// Wake the wait below when the linger is over (a flush's end
		// wakes it too); spurious wake-ups only recheck.
		t := time.AfterFunc(linger, func() {
			g.mu.Lock()
			g.cond.Broadcast()
			g.mu.Unlock()
		})
		defer t.Stop()
	}
	for g.done < wantGen {
		if g.running || (linger > 0 && g.started < wantGen && time.Now().Before(deadline)) {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		gen := g.started
		g.mu.Unlock()
		err := g.Flush()
		g.mu.Lock()
		g.running = false
		g.done = gen
		if gw := g.wants[gen]; gw != nil {
			gw.err = err
		}
		g.cond.Broadcast()
	}
	if w.waiters--; w.waiters == 0 {
		delete(g.wants, wantGen)
	}
	return w.err
}

// Flushes is how many flushes have finished.
func (g *Group) Flushes() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.done
}

// DirGroup shares directory fsyncs (SyncDir) between concurrent callers,
// one Group per directory: many deliveries linking into the same Maildir
// new/ at once need one fsync of it, not one each. The zero value is
// ready; a nil *DirGroup syncs alone. A directory nobody waits on is
// forgotten, so memory stays flat however many directories pass through.
type DirGroup struct {
	mu   sync.Mutex
	dirs map[string]*dirEntry
}

type dirEntry struct {
	g       Group
	waiters int
}

// SyncDir fsyncs dir, sharing the fsync with concurrent callers.
func (d *DirGroup) SyncDir(dir string) error {
	if d == nil {
		return SyncDir(dir)
	}
	d.mu.Lock()
	if d.dirs == nil {
		d.dirs = map[string]*dirEntry{}
	}
	e := d.dirs[dir]
	if e == nil {
		e = &dirEntry{g: Group{Flush: func() error { return SyncDir(dir) }}}
		d.dirs[dir] = e
	}
	e.waiters++
	d.mu.Unlock()

	err := e.g.Do()

	d.mu.Lock()
	e.waiters--
	if e.waiters == 0 {
		delete(d.dirs, dir)
	}
	d.mu.Unlock()
	return err
}
