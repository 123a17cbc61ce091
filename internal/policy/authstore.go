package policy

import (
	"context"
	"sort"
	"sync"
	"time"
)

// AuthStore keeps what AuthGuard counts: failures under a key (a source,
// an account), and notes (a source an account logged in from, a wrong
// password already counted). MemoryAuthStore serves one host; a store in
// a shared database lets several hosts count together (issue 27), so the
// guard asks only these few questions of it, each of which is one
// statement in SQL:
//
//	failures(key, at, keep)      INSERT / SELECT at WHERE key = ? AND at > ?
//	notes(key, member, until)    UPSERT / SELECT 1 WHERE key, member AND until > now
//	Expire                       DELETE WHERE keep < now / until < now
//
// Every method may fail (a database that does not answer); the guard
// then refuses to check passwords rather than check them without a count.
type AuthStore interface {
	// AddFailure counts one failure under key at at, kept until keep.
	AddFailure(ctx context.Context, key string, at, keep time.Time) error
	// Failures returns the times of key's failures after since, oldest
	// first.
	Failures(ctx context.Context, key string, since time.Time) ([]time.Time, error)
	// Note remembers member under key until until; noting it again moves
	// until (never earlier).
	Note(ctx context.Context, key, member string, until time.Time) error
	// Noted reports whether member is remembered under key at now.
	Noted(ctx context.Context, key, member string, now time.Time) (bool, error)
	// Expire forgets the failures and notes kept only until before now.
	Expire(ctx context.Context, now time.Time) error
}

// MemoryAuthStore is an AuthStore in this process's memory: counts start
// empty at every start. Its size is bounded by what is counted, since a
// refused login is not counted: per source at most
// submission.auth_max_failures_per_ip within the window, per account at
// most the daily budget; Expire (AuthGuard.Sweep, once a minute) drops the
// rest.
type MemoryAuthStore struct {
	mu       sync.Mutex
	failures map[string][]kept
	notes    map[string]map[string]time.Time
}

type kept struct{ at, keep time.Time }

// NewMemoryAuthStore makes an empty store.
func NewMemoryAuthStore() *MemoryAuthStore {
	return &MemoryAuthStore{failures: map[string][]kept{}, notes: map[string]map[string]time.Time{}}
}

func (s *MemoryAuthStore) AddFailure(_ context.Context, key string, at, keep time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs := s.failures[key]
	i := sort.Search(len(fs), func(i int) bool { return fs[i].at.After(at) })
	fs = append(fs, kept{})
	copy(fs[i+1:], fs[i:])
	fs[i] = kept{at: at, keep: keep}
	s.failures[key] = fs
	return nil
}

func (s *MemoryAuthStore) Failures(_ context.Context, key string, since time.Time) ([]time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Time
	for _, f := range s.failures[key] {
		if f.at.After(since) {
			out = append(out, f.at)
		}
	}
	return out, nil
}

func (s *MemoryAuthStore) Note(_ context.Context, key, member string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.notes[key]
	if m == nil {
		m = map[string]time.Time{}
		s.notes[key] = m
	}
	if until.After(m[member]) {
		m[member] = until
	}
	return nil
}

func (s *MemoryAuthStore) Noted(_ context.Context, key, member string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.notes[key][member]
	return ok && until.After(now), nil
}

func (s *MemoryAuthStore) Expire(_ context.Context, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, fs := range s.failures {
		live := fs[:0]
		for _, f := range fs {
			if f.keep.After(now) {
				live = append(live, f)
			}
		}
		if len(live) == 0 {
			delete(s.failures, k)
		} else {
			s.failures[k] = live
		}
	}
	for k, m := range s.notes {
		for member, until := range m {
			if !until.After(now) {
				delete(m, member)
			}
		}
		if len(m) == 0 {
			delete(s.notes, k)
		}
	}
	return nil
}

// size is the number of failures and notes held (tests).
func (s *MemoryAuthStore) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, fs := range s.failures {
		n += len(fs)
	}
	for _, m := range s.notes {
		n += len(m)
	}
	return n
}
