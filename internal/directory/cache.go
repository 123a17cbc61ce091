package directory

import (
	"sync"
	"time"
)

// ttlCache remembers lookups for a short time so that RCPT checks under load
// do not each cost a database round trip. Entries expire after ttl; a change
// made through this Directory clears the whole cache, a change made by
// another process shows after at most ttl (directory.cache_ttl). When full
// it is simply emptied: simpler than LRU, and at these sizes good enough.
type ttlCache[V any] struct {
	ttl time.Duration
	max int
	mu  sync.RWMutex
	m   map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[V any](ttl time.Duration, max int) *ttlCache[V] {
	return &ttlCache[V]{ttl: ttl, max: max, m: map[string]ttlEntry[V]{}}
}

func (c *ttlCache[V]) get(k string) (V, bool) {
	var zero V
	if c.ttl <= 0 {
		return zero, false
	}
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || time.Now().After(e.expires) {
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[V]) put(k string, v V) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = map[string]ttlEntry[V]{}
	}
	c.m[k] = ttlEntry[V]{v: v, expires: time.Now().Add(c.ttl)}
	c.mu.Unlock()
}

func (c *ttlCache[V]) clear() {
	c.mu.Lock()
	c.m = map[string]ttlEntry[V]{}
	c.mu.Unlock()
}
