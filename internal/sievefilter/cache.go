package sievefilter

import (
	"errors"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/internal/sieve"
)

// Cache keeps compiled scripts: each file is compiled once and compiled
// again only when it changes (device, inode, size or mtime of the file the
// path leads to, so re-pointing Dovecot's ~/.dovecot.sieve link counts). A
// compile error is cached too: a broken script is reported at every
// delivery but not recompiled until it is edited. Scripts pulled in by
// include are read at compile time; editing only an included script takes
// effect when the including script's file changes.
type Cache struct {
	mu      sync.Mutex
	entries map[string]*cacheEntry
}

type cacheEntry struct {
	stamp  stamp
	key    string // the options the script was compiled with
	script *sieve.Script
	err    error
}

type stamp struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

func stampOf(st os.FileInfo) stamp {
	s := stamp{size: st.Size(), mtime: st.ModTime()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(sys.Dev), sys.Ino
	}
	return s
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{entries: map[string]*cacheEntry{}} }

// ErrNoScript is returned by Get when the file does not exist.
var ErrNoScript = errors.New("no script")

// Get returns the compiled script at path. optsKey identifies opts (the
// same path compiled with other options, e.g. another personal directory, is
// another entry). The error wraps ErrNoScript when the file is missing, is a
// compile error (IsCompileError) when the script is broken, and is a read
// error otherwise.
func (c *Cache) Get(path, optsKey string, opts sieve.Options) (*sieve.Script, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNoScript
		}
		return nil, err
	}
	s := stampOf(st)
	key := path + "\x00" + optsKey
	c.mu.Lock()
	e := c.entries[key]
	c.mu.Unlock()
	if e != nil && e.stamp == s {
		return e.script, e.err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNoScript
		}
		return nil, err
	}
	script, err := sieve.Compile(path, src, opts)
	e = &cacheEntry{stamp: s, key: optsKey, script: script, err: err}
	c.mu.Lock()
	c.entries[key] = e
	c.mu.Unlock()
	return script, err
}
