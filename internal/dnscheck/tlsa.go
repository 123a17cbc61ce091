package dnscheck

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// TLSAData is the TLSA record data ebb asks for: DANE-EE (3), the
// certificate's public key (SPKI, 1), SHA-256 (1) — RFC 7672 §3.1.1 and
// RFC 7671 §5.1: it survives renewals that keep the key, and the next key
// can be published before a rollover.
func TLSAData(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return "3 1 1 " + hex.EncodeToString(sum[:]), nil
}

// TLSAName is where the TLSA records of an SMTP server are (RFC 7672 §2.2).
func TLSAName(host string, port int) string {
	return fmt.Sprintf("_%d._tcp.%s", port, strings.TrimSuffix(host, "."))
}

// Querier asks one DNS server directly (miekg/dns): for the record types
// the Go resolver cannot look up (TLSA).
type Querier struct {
	Server  string // host:port; "" reads /etc/resolv.conf
	Timeout time.Duration
}

func (q Querier) server() (string, error) {
	if q.Server != "" {
		return q.Server, nil
	}
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(cc.Servers) == 0 {
		return "", fmt.Errorf("no DNS server: dns.resolver is empty and /etc/resolv.conf names none (%v)", err)
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port), nil
}

// Lookup asks for name's records of qtype: the answers (empty when the
// name or type does not exist) and whether the resolver says they were
// validated by DNSSEC (the AD bit).
func (q Querier) Lookup(ctx context.Context, name string, qtype uint16) ([]dns.RR, bool, error) {
	srv, err := q.server()
	if err != nil {
		return nil, false, err
	}
	t := q.Timeout
	if t <= 0 {
		t = 5 * time.Second
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(4096, true)
	m.AuthenticatedData = true
	c := &dns.Client{Timeout: t}
	r, _, err := c.ExchangeContext(ctx, m, srv)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, srv)
	}
	if err != nil {
		return nil, false, fmt.Errorf("ask %s for %s %s: %w", srv, name, dns.TypeToString[qtype], err)
	}
	switch r.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return nil, false, fmt.Errorf("ask %s for %s %s: %s", srv, name, dns.TypeToString[qtype], dns.RcodeToString[r.Rcode])
	}
	var out []dns.RR
	for _, rr := range r.Answer {
		if rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	return out, r.AuthenticatedData, nil
}

// LookupTLSA returns the TLSA records at name as "usage selector type hex".
func (q Querier) LookupTLSA(ctx context.Context, name string) ([]string, error) {
	rrs, _, err := q.Lookup(ctx, name, dns.TypeTLSA)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range rrs {
		t := rr.(*dns.TLSA)
		out = append(out, fmt.Sprintf("%d %d %d %s", t.Usage, t.Selector, t.MatchingType, strings.ToLower(t.Certificate)))
	}
	return out, nil
}

// KeepKeyForTLSA decides a renewal's key for internal/acme: keep the
// current key when a TLSA record at _25._tcp of one of the names names it
// and none names the next key, since moving to the next key would break
// DANE for senders until the admin publishes it. A lookup that fails keeps
// the key too: better an unrotated key than a broken TLSA.
func KeepKeyForTLSA(q Querier) func(ctx context.Context, names []string, cur, next crypto.PublicKey) (bool, string) {
	return func(ctx context.Context, names []string, cur, next crypto.PublicKey) (bool, string) {
		curData, err1 := TLSAData(cur)
		nextData, err2 := TLSAData(next)
		if err1 != nil || err2 != nil {
			return true, "cannot compute the TLSA data of the keys"
		}
		for _, n := range names {
			recs, err := q.LookupTLSA(ctx, TLSAName(n, 25))
			if err != nil {
				return true, "TLSA lookup failed: " + err.Error()
			}
			hasCur, hasNext := false, false
			for _, r := range recs {
				hasCur = hasCur || r == curData
				hasNext = hasNext || r == nextData
			}
			if hasCur && !hasNext {
				return true, TLSAName(n, 25) + " names the current key but not the next one (publish " + nextData + " to let the key roll)"
			}
		}
		return false, ""
	}
}
