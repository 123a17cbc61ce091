package mtasts

import "strings"

// Cached is domain's policy as the cache holds it on disk, without asking
// DNS or fetching anything (ebb route: what the relay would use now), with
// Get's own rules: nil when nothing is cached, when the cached policy is
// past its max_age, or when domain is not a name a policy can be for.
func (c *Cache) Cached(domain string) *Policy {
	domain, ok := policyDomain(domain)
	if !ok {
		return nil
	}
	return unexpired(c.load(domain), c.o.Now())
}

// policyDomain is domain as policies are keyed (lower case, no final
// dot), and whether a policy can apply to it at all: an address literal or
// something that is not a domain name has none.
func policyDomain(domain string) (string, bool) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	return domain, validPattern(domain) && !strings.HasPrefix(domain, "*.") && !strings.HasPrefix(domain, "[")
}
