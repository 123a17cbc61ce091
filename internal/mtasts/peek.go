package mtasts

import "strings"

// Cached is domain's policy as the cache holds it on disk, without asking
// DNS or fetching anything (ebb route: what the relay would use now). nil
// when nothing is cached.
func (c *Cache) Cached(domain string) *Policy {
	return c.load(strings.ToLower(strings.TrimSuffix(domain, ".")))
}
