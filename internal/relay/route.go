package relay

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strings"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/dnsresolve"
)

// hop is where a recipient domain's mail goes: a smarthost, or the
// domain's MX hosts.
type hop struct {
	// Smarthost is host:port; "" means MX delivery to Domain.
	Smarthost string
	Implicit  bool // implicit TLS (relay.smarthost_tls = implicit)
	Domain    string
	// Setting names the key that chose the smarthost, for diag.
	Setting string
	// Delivery: the smarthost is the delivery host of a hosted domain
	// (mail.delivery_host): another ebb host of this site, reached like
	// an MX (relay.tls, no AUTH), not a provider's smarthost.
	Delivery bool
}

// key names the destination for limits and connection reuse.
func (h hop) key() string {
	if h.Smarthost != "" {
		return "[" + h.Smarthost + "]"
	}
	return h.Domain
}

// router picks a hop per recipient domain from relay.smarthost and
// relay.routes.
type router struct {
	smarthost string
	implicit  bool
	routes    []config.RelayRoute
}

func (r *router) route(domain string) hop {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	best := -1
	for i, rt := range r.routes {
		if domainMatch(domain, rt.Domain) && (best < 0 || len(rt.Domain) > len(r.routes[best].Domain)) {
			best = i
		}
	}
	if best >= 0 {
		rt := r.routes[best]
		if rt.Host == "" {
			return hop{Domain: domain, Setting: "relay.routes"}
		}
		return hop{Smarthost: rt.Host, Implicit: r.implicit && rt.Host == r.smarthost, Domain: domain, Setting: "relay.routes"}
	}
	if r.smarthost != "" {
		return hop{Smarthost: r.smarthost, Implicit: r.implicit, Domain: domain, Setting: "relay.smarthost"}
	}
	return hop{Domain: domain}
}

// domainMatch reports whether d is pattern or one of its subdomains.
func domainMatch(d, pattern string) bool {
	return d == pattern || strings.HasSuffix(d, "."+pattern)
}

// longestMatch returns the value of the longest pattern that d matches.
func longestMatch(d string, table map[string]string) (string, bool) {
	best, val := "", ""
	for p, v := range table {
		if domainMatch(d, p) && len(p) > len(best) {
			best, val = p, v
		}
	}
	return val, best != ""
}

// mxHost is one host to try, with its preference.
type mxHost struct {
	Name string
	Pref uint16
	// Implicit: no MX record, the domain's own address (RFC 5321 §5.1).
	Implicit bool
}

// dnsError is a lookup that failed; Permanent when the answer says the
// domain cannot receive mail (NXDOMAIN, null MX).
type dnsError struct {
	Domain    string
	Permanent bool
	NullMX    bool
	Err       error
}

func (e *dnsError) Error() string {
	if e.NullMX {
		return fmt.Sprintf("%s publishes a null MX (RFC 7505): it accepts no mail", e.Domain)
	}
	return fmt.Sprintf("MX lookup of %s: %v", e.Domain, e.Err)
}

func (e *dnsError) Unwrap() error { return e.Err }

// mxResolver looks up MX records: *net.Resolver, or secureMX for DANE.
type mxResolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

// lookupMX returns the hosts to try for domain, in order: by preference,
// random among equal preferences (RFC 5321 §5.1), at most limit. Without
// MX records the domain itself is the host (implicit MX); a null MX
// (RFC 7505 §3) is a permanent failure.
func lookupMX(ctx context.Context, res mxResolver, domain string, limit int, rnd func(n int) int) ([]mxHost, error) {
	mxs, err := res.LookupMX(ctx, domain)
	if err != nil && len(mxs) == 0 {
		if dnsresolve.IsNotFound(err) {
			// No MX: RFC 5321 §5.1 falls back to the domain's A/AAAA. An
			// NXDOMAIN makes the address lookup fail permanently below.
			return []mxHost{{Name: domain, Implicit: true}}, nil
		}
		return nil, &dnsError{Domain: domain, Err: err}
	}
	if len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == "") {
		return nil, &dnsError{Domain: domain, Permanent: true, NullMX: true}
	}
	if rnd == nil {
		rnd = rand.IntN
	}
	// Shuffle, then sort stably by preference: random among equals.
	for i := len(mxs) - 1; i > 0; i-- {
		j := rnd(i + 1)
		mxs[i], mxs[j] = mxs[j], mxs[i]
	}
	sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Pref < mxs[j].Pref })
	var out []mxHost
	for _, mx := range mxs {
		name := strings.TrimSuffix(mx.Host, ".")
		if name == "" {
			continue // a "." among real MX records: RFC 7505 §3 says ignore
		}
		out = append(out, mxHost{Name: name, Pref: mx.Pref})
		if len(out) >= limit {
			break
		}
	}
	if len(out) == 0 {
		return nil, &dnsError{Domain: domain, Permanent: true, NullMX: true}
	}
	return out, nil
}

// lookupAddrs returns host's addresses, IPv6 and IPv4 in turn, at most
// limit. An IP literal is itself.
func lookupAddrs(ctx context.Context, res *net.Resolver, host string, limit int) ([]string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []string{ip.String()}, nil
	}
	ips, err := res.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	var v6, v4 []string
	for _, ip := range ips {
		if ip.IP.To4() != nil {
			v4 = append(v4, ip.IP.String())
		} else {
			v6 = append(v6, ip.IP.String())
		}
	}
	var out []string
	for i := 0; len(out) < limit && (i < len(v6) || i < len(v4)); i++ {
		if i < len(v6) {
			out = append(out, v6[i])
		}
		if i < len(v4) && len(out) < limit {
			out = append(out, v4[i])
		}
	}
	return out, nil
}
