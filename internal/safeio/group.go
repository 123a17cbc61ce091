package safeio

import "sync"

// DirGroup shares directory fsyncs between concurrent callers (group
// commit): many deliveries linking into the same Maildir new/ at once
// need one fsync of it, not one each. A caller that arrives while an
// fsync of its directory runs waits for the next one, which covers every
// caller waiting by then: nobody returns before an fsync that started
// after its own link or rename, so the guarantee is SyncDir's. Each
// waiter of a failed fsync gets its error. The zero value is ready; a nil
// *DirGroup syncs alone. A directory nobody waits on is forgotten, so
// memory stays flat however many directories pass through.
type DirGroup struct {
	mu   sync.Mutex
	dirs map[string]*dirFlush
}

type dirFlush struct {
	cond    *sync.Cond
	running bool
	started uint64 // generation of the fsync running or last started
	done    uint64 // generation of the last finished fsync
	errs    map[uint64]error
	waiters int
}

// SyncDir fsyncs dir, sharing the fsync with concurrent callers.
func (g *DirGroup) SyncDir(dir string) error {
	if g == nil {
		return SyncDir(dir)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dirs == nil {
		g.dirs = map[string]*dirFlush{}
	}
	f := g.dirs[dir]
	if f == nil {
		f = &dirFlush{cond: sync.NewCond(&g.mu), errs: map[uint64]error{}}
		g.dirs[dir] = f
	}
	f.waiters++
	// The fsync that covers us is the first one that starts from now on.
	want := f.started + 1
	for f.done < want {
		if f.running {
			f.cond.Wait()
			continue
		}
		f.running = true
		f.started++
		gen := f.started
		g.mu.Unlock()
		err := SyncDir(dir)
		g.mu.Lock()
		f.running = false
		f.done = gen
		if err != nil {
			f.errs[gen] = err
		}
		f.cond.Broadcast()
	}
	err := f.errs[want]
	f.waiters--
	if f.waiters == 0 && !f.running {
		delete(g.dirs, dir)
	} else {
		for gen := range f.errs {
			if gen+64 < f.done {
				delete(f.errs, gen)
			}
		}
	}
	return err
}
