package msgauth

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// CachingResolver keeps the answers of the checks' lookups (TXT, MX,
// addresses, names) for TTL, found or not found, so that a burst of mail
// from one sender (a mailing list, a newsletter) asks the DNS once: each
// message needs four to six lookups, and each is a round trip through the
// resolver's process. Failures (SERVFAIL, timeouts) are not kept. net's
// resolver does not give record TTLs, so one short TTL applies to all; a
// changed record is seen at most TTL late. At most maxCached names are
// kept; when full, the cache starts over.
type CachingResolver struct {
	R   Resolver
	TTL time.Duration

	mu sync.Mutex
	m  map[cacheKey]cached
}

const maxCached = 10000

type cacheKey struct {
	kind byte
	name string
}

type cached struct {
	at  time.Time
	val any
	err error
}

func (c *CachingResolver) get(k cacheKey, look func() (any, error)) (any, error) {
	now := time.Now()
	c.mu.Lock()
	if e, ok := c.m[k]; ok && now.Sub(e.at) < c.TTL {
		c.mu.Unlock()
		return e.val, e.err
	}
	c.mu.Unlock()
	v, err := look()
	var de *net.DNSError
	if err == nil || (errors.As(err, &de) && de.IsNotFound) {
		c.mu.Lock()
		if c.m == nil || len(c.m) >= maxCached {
			c.m = map[cacheKey]cached{}
		}
		c.m[k] = cached{at: now, val: v, err: err}
		c.mu.Unlock()
	}
	return v, err
}

func (c *CachingResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	v, err := c.get(cacheKey{'t', name}, func() (any, error) { return c.R.LookupTXT(ctx, name) })
	s, _ := v.([]string)
	return s, err
}

func (c *CachingResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	v, err := c.get(cacheKey{'m', name}, func() (any, error) { return c.R.LookupMX(ctx, name) })
	s, _ := v.([]*net.MX)
	return s, err
}

func (c *CachingResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	kind := byte('4')
	switch network {
	case "ip6":
		kind = '6'
	case "ip":
		kind = 'a'
	}
	v, err := c.get(cacheKey{kind, host}, func() (any, error) { return c.R.LookupNetIP(ctx, network, host) })
	s, _ := v.([]netip.Addr)
	return s, err
}

func (c *CachingResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	v, err := c.get(cacheKey{'p', addr}, func() (any, error) { return c.R.LookupAddr(ctx, addr) })
	s, _ := v.([]string)
	return s, err
}
