package dnscheck

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/ebbmail/ebb/internal/dnsresolve"
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

// LookupTLSA returns the TLSA records at name as "usage selector type
// hex"; none (not an error) when the name or type does not exist.
func LookupTLSA(ctx context.Context, c *dnsresolve.Client, name string) ([]string, error) {
	rrs, err := c.Query(ctx, name, dns.TypeTLSA)
	if dnsresolve.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range rrs {
		if t, ok := rr.(*dns.TLSA); ok {
			out = append(out, fmt.Sprintf("%d %d %d %s", t.Usage, t.Selector, t.MatchingType, strings.ToLower(t.Certificate)))
		}
	}
	return out, nil
}

// KeepKeyForTLSA decides a renewal's key for internal/acme: keep the
// current key when a TLSA record at _25._tcp of one of the names names it
// and none names the next key, since moving to the next key would break
// DANE for senders until the admin publishes it. A lookup that fails keeps
// the key too: better an unrotated key than a broken TLSA.
func KeepKeyForTLSA(c *dnsresolve.Client) func(ctx context.Context, names []string, cur, next crypto.PublicKey) (bool, string) {
	return func(ctx context.Context, names []string, cur, next crypto.PublicKey) (bool, string) {
		curData, err1 := TLSAData(cur)
		nextData, err2 := TLSAData(next)
		if err1 != nil || err2 != nil {
			return true, "cannot compute the TLSA data of the keys"
		}
		for _, n := range names {
			recs, err := LookupTLSA(ctx, c, TLSAName(n, 25))
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
