package relay

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/ebbmail/ebb/internal/dane"
	"github.com/ebbmail/ebb/internal/dnsresolve"
)

// DANE for SMTP (RFC 7672) in the relay: which MX hosts it applies to,
// their TLSA records, and the TLS it asks of a session with them. The
// matching itself is internal/dane's.

// SecureResolver answers with the DNSSEC status a validating resolver
// gave (dnsresolve.Client.Lookup). The relay uses DANE only when one is
// set: the daemon sets it when dns.dnssec says dns.resolver validates.
type SecureResolver interface {
	Lookup(ctx context.Context, name string, qtype uint16) (dnsresolve.Answer, error)
}

// daneHost is what DANE says of one MX host whose TLSA records DNSSEC
// vouches for: TLS is required, authenticated by a usable record (or, when
// none is usable, required without authentication, RFC 7672 §2.2).
type daneHost struct {
	Host    string // the MX host as named
	Base    string // the TLSA base domain: Host, or its CNAME-expanded name (RFC 7672 §2.2.2)
	Name    string // _25._tcp.Base
	Records []dane.Record
	Usable  []dane.Record
	// Names are the reference identifiers a DANE-TA(2) certificate must
	// hold (RFC 7672 §3.2.2): the base domain and the MX host name.
	Names []string
}

// Strings are the records as a zone writes them (TLS-RPT's policy-string).
func (h *daneHost) Strings() []string {
	out := make([]string, len(h.Records))
	for i, r := range h.Records {
		out[i] = r.String()
	}
	return out
}

// tlsaLookupError is a TLSA lookup that did not come back (SERVFAIL: a
// validating resolver's answer to a bogus signature, or trouble): RFC
// 7672 §2.2 makes the host unusable, since an attacker could have caused
// it; the next MX host is tried.
type tlsaLookupError struct {
	Host, Name string
	Err        error
}

func (e *tlsaLookupError) Error() string {
	return fmt.Sprintf("TLSA lookup of %s failed (%s): DANE may apply to %s, so it gets no mail until the lookup works (RFC 7672 §2.2)",
		e.Name, netReason(e.Err), e.Host)
}

func (e *tlsaLookupError) Unwrap() error { return e.Err }

// daneOn reports whether DANE is looked for on the way to a's domain: a
// validating resolver is trusted, the delivery goes to MX hosts, and the
// domain is not in dane.exempt.
func (r *Relay) daneOn(a *attempt) bool {
	if r.secure == nil || a.hop.Smarthost != "" {
		return false
	}
	if d, ok := longestMatch(a.hop.Domain, r.daneExempt); ok {
		r.stats.daneExempted()
		a.waive("dane.exempt", fmt.Sprintf("TLSA records of %s's MX hosts not applied (dane.exempt lists %s)", a.hop.Domain, d))
		r.log.Warn("DANE: TLSA records not applied, the domain is exempt", "queue_id", a.m.ID, "domain", a.hop.Domain,
			"exempt", d, "setting", "dane.exempt")
		return false
	}
	return true
}

// secureMX looks up MX records through the validating resolver and keeps
// whether the answer was secure.
type secureMX struct {
	r      SecureResolver
	mu     sync.Mutex
	secure bool
}

func (s *secureMX) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	ans, err := s.r.Lookup(ctx, name, dns.TypeMX)
	s.mu.Lock()
	s.secure = ans.Secure
	s.mu.Unlock()
	var out []*net.MX
	for _, rr := range ans.RRs {
		if mx, ok := rr.(*dns.MX); ok {
			out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
		}
	}
	return out, err
}

// lookupMXSecure is lookupMX through the validating resolver: secure
// tells whether DNSSEC vouched for the MX records (or for their absence,
// when the domain is its own host). RFC 7672 §2.2.1: with an insecure MX
// RRset, DANE does not apply to any of the hosts.
func (r *Relay) lookupMXSecure(ctx context.Context, domain string) ([]mxHost, bool, error) {
	s := &secureMX{r: r.secure}
	hosts, err := lookupMX(ctx, s, domain, r.set.MaxMX, nil)
	return hosts, s.secure, err
}

// lookupAddrsSecure looks up host's addresses through the validating
// resolver: secure when every answer was (RFC 7672 §2.2.2: TLSA records
// are looked up only for a host whose address records are secure), and
// the name the CNAMEs led to.
func (r *Relay) lookupAddrsSecure(ctx context.Context, host string) (addrs []string, secure bool, expanded string, err error) {
	if ip := net.ParseIP(host); ip != nil {
		return []string{ip.String()}, false, host, nil
	}
	secure = true
	expanded = host
	var v6, v4 []string
	var firstErr error
	for _, t := range []uint16{dns.TypeAAAA, dns.TypeA} {
		ans, err := r.secure.Lookup(ctx, host, t)
		if err != nil {
			if !dnsresolve.IsNotFound(err) {
				secure = false
			} else {
				secure = secure && ans.Secure
			}
			if firstErr == nil || dnsresolve.IsNotFound(firstErr) {
				firstErr = err
			}
			continue
		}
		secure = secure && ans.Secure
		if ans.Name != "" {
			expanded = ans.Name
		}
		for _, rr := range ans.RRs {
			switch v := rr.(type) {
			case *dns.AAAA:
				v6 = append(v6, v.AAAA.String())
			case *dns.A:
				v4 = append(v4, v.A.String())
			}
		}
	}
	if len(v6)+len(v4) == 0 {
		if firstErr == nil {
			firstErr = &net.DNSError{Err: "no address", Name: host, IsNotFound: true}
		}
		return nil, false, expanded, firstErr
	}
	for i := 0; len(addrs) < r.set.MaxAddrs && (i < len(v6) || i < len(v4)); i++ {
		if i < len(v6) {
			addrs = append(addrs, v6[i])
		}
		if i < len(v4) && len(addrs) < r.set.MaxAddrs {
			addrs = append(addrs, v4[i])
		}
	}
	return addrs, secure, expanded, nil
}

// lookupTLSA finds the TLSA records of an MX host whose MX and address
// records are secure (RFC 7672 §2.2.2): at the CNAME-expanded name first,
// then at the name as given. nil without error: DANE does not apply (no
// records, or records DNSSEC does not vouch for).
func (r *Relay) lookupTLSA(ctx context.Context, domain, host, expanded string, implicit bool) (*daneHost, error) {
	host, expanded = strings.TrimSuffix(strings.ToLower(host), "."), strings.TrimSuffix(strings.ToLower(expanded), ".")
	bases := []string{host}
	if expanded != "" && expanded != host {
		bases = []string{expanded, host}
	}
	for _, base := range bases {
		name := fmt.Sprintf("_%d._tcp.%s", 25, base)
		ans, err := r.secure.Lookup(ctx, name, dns.TypeTLSA)
		if dnsresolve.IsNotFound(err) {
			continue // no TLSA here: the next base, or no DANE
		}
		if err != nil {
			return nil, &tlsaLookupError{Host: host, Name: name, Err: err}
		}
		if !ans.Secure {
			// RFC 7672 §2.2: records DNSSEC does not vouch for are not
			// used (and do not make TLS mandatory).
			r.log.Info("DANE: TLSA records not DNSSEC-validated, not used", "host", host, "name", name)
			return nil, nil
		}
		h := &daneHost{Host: host, Base: base, Name: name}
		for _, rr := range ans.RRs {
			t, ok := rr.(*dns.TLSA)
			if !ok {
				continue
			}
			rec, err := dane.FromRR(t)
			if err != nil {
				continue // not hex: unusable, like an unknown parameter
			}
			h.Records = append(h.Records, rec)
		}
		if len(h.Records) == 0 {
			continue
		}
		h.Usable = dane.Usable(h.Records)
		h.Names = []string{base}
		if host != base {
			h.Names = append(h.Names, host)
		}
		if implicit && domain != base && domain != host {
			h.Names = append(h.Names, domain)
		}
		return h, nil
	}
	return nil, nil
}

// daneTLSConfig is the client TLS config toward a DANE host: SNI is the
// TLSA base domain (RFC 7672 §8.1), and the chain must match a usable
// record; the one that matched is kept in *matched. With no usable record
// TLS is still required, without authentication (RFC 7672 §2.2); pkix
// (REQUIRETLS) then asks for a certificate that verifies the usual way.
func (r *Relay) daneTLSConfig(h *daneHost, pkix bool, matched *dane.Record) *tls.Config {
	cfg := &tls.Config{ServerName: h.Base, MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
	if len(h.Usable) == 0 {
		if pkix {
			cfg = r.tlsConfig("verify", h.Host)
		}
		return cfg
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		rec, err := dane.Verify(cs.PeerCertificates, h.Usable, h.Names, r.now())
		if err == nil {
			*matched = rec
		}
		return err
	}
	return cfg
}

// daneResult describes a verified DANE session, for the log, mailq,
// explain and DSNs.
func daneResult(h *daneHost, rec dane.Record) string {
	if len(h.Usable) == 0 {
		return fmt.Sprintf("DANE: TLS required by %s, no usable TLSA record to authenticate it (RFC 7672 §2.2)", h.Name)
	}
	return fmt.Sprintf("DANE: %s (%s) at %s matched, DNSSEC-validated", rec.Describe(), shortRecord(rec), h.Name)
}

// shortRecord is "3 1 1 ab12cd34…": enough to tell the record.
func shortRecord(r dane.Record) string {
	s := r.String()
	if len(s) > 22 {
		s = s[:22] + "…"
	}
	return s
}
