// Package mtasts is SMTP MTA Strict Transport Security (RFC 8461): it
// fetches, caches and applies a domain's policy for outbound mail.
package mtasts

import (
	"strings"
	"time"
)

// Mode is a policy's mode (RFC 8461 §3.2).
type Mode string

const (
	Enforce Mode = "enforce" // a failed check is a failed delivery to that MX
	Testing Mode = "testing" // failures are reported (logged), mail goes on
	None    Mode = "none"    // no policy
)

// Policy is one domain's policy as fetched from
// https://mta-sts.DOMAIN/.well-known/mta-sts.txt.
type Policy struct {
	Domain  string        `json:"domain"`
	ID      string        `json:"id"` // the _mta-sts TXT record's id when fetched
	Mode    Mode          `json:"mode"`
	MX      []string      `json:"mx"` // patterns: "mx.example.net" or "*.example.net"
	MaxAge  time.Duration `json:"max_age"`
	Fetched time.Time     `json:"fetched"`
}

// Matches reports whether the MX host name matches one of the policy's mx
// patterns (RFC 8461 §4.1: a "*." wildcard matches exactly one leftmost
// label; names compare case-insensitively, without a trailing dot).
func (p *Policy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		pat = strings.ToLower(strings.TrimSuffix(pat, "."))
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			if i := strings.IndexByte(host, '.'); i > 0 && host[i+1:] == rest {
				return true
			}
			continue
		}
		if host == pat {
			return true
		}
	}
	return false
}
