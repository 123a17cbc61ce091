package acme

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DNSUpdate sets the dns-01 TXT record by dynamic update (RFC 2136)
// signed with TSIG (RFC 8945) at the zone's primary server.
type DNSUpdate struct {
	Server    string // host:port
	KeyName   string // the TSIG key's name
	Secret    string // base64
	Algorithm string // hmac-sha256 …
	Zone      string // "": found by SOA queries to Server
	Timeout   time.Duration
}

// NewDNSUpdate reads the TSIG secret from keyFile (base64, as tsig-keygen
// prints it, or a whole tsig-keygen key clause).
func NewDNSUpdate(server, keyName, keyFile, algorithm, zone string, timeout time.Duration) (*DNSUpdate, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	secret := strings.TrimSpace(string(b))
	// A tsig-keygen clause: key "name" { algorithm …; secret "…"; };
	if i := strings.Index(secret, "secret"); i >= 0 && strings.Contains(secret, "{") {
		rest := secret[i+len("secret"):]
		if a := strings.IndexByte(rest, '"'); a >= 0 {
			if z := strings.IndexByte(rest[a+1:], '"'); z >= 0 {
				secret = rest[a+1 : a+1+z]
			}
		}
	}
	if _, err := base64.StdEncoding.DecodeString(secret); err != nil || secret == "" {
		return nil, fmt.Errorf("%s: the TSIG secret is not base64", keyFile)
	}
	return &DNSUpdate{Server: server, KeyName: dns.Fqdn(keyName), Secret: secret, Algorithm: dns.Fqdn(algorithm), Zone: zone, Timeout: timeout}, nil
}

// Present adds _acme-challenge.NAME TXT value.
func (u *DNSUpdate) Present(ctx context.Context, name, value string) error {
	return u.update(ctx, name, value, true)
}

// CleanUp removes it again.
func (u *DNSUpdate) CleanUp(ctx context.Context, name, value string) error {
	return u.update(ctx, name, value, false)
}

func (u *DNSUpdate) client() *dns.Client {
	t := u.Timeout
	if t <= 0 {
		t = 10 * time.Second
	}
	return &dns.Client{Net: "tcp", Timeout: t, TsigSecret: map[string]string{u.KeyName: u.Secret}}
}

func (u *DNSUpdate) update(ctx context.Context, name, value string, add bool) error {
	fqdn := dns.Fqdn("_acme-challenge." + name)
	zone := u.Zone
	if zone == "" {
		z, err := u.findZone(ctx, fqdn)
		if err != nil {
			return err
		}
		zone = z
	}
	rr := &dns.TXT{Hdr: dns.RR_Header{Name: fqdn, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{value}}
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	if add {
		m.Insert([]dns.RR{rr})
	} else {
		m.Remove([]dns.RR{rr})
	}
	m.SetTsig(u.KeyName, u.Algorithm, 300, time.Now().Unix())
	r, _, err := u.client().ExchangeContext(ctx, m, u.Server)
	if err != nil {
		return fmt.Errorf("RFC 2136 update of %s at %s: %w", fqdn, u.Server, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("RFC 2136 update of %s in zone %s at %s: the server answered %s (REFUSED or NOTAUTH: the TSIG key may not update this zone)",
			fqdn, zone, u.Server, dns.RcodeToString[r.Rcode])
	}
	return nil
}

// findZone asks the server for the SOA of fqdn's parents, nearest first.
func (u *DNSUpdate) findZone(ctx context.Context, fqdn string) (string, error) {
	c := u.client()
	c.TsigSecret = nil
	labels := dns.SplitDomainName(fqdn)
	for i := 1; i < len(labels); i++ {
		z := dns.Fqdn(strings.Join(labels[i:], "."))
		q := new(dns.Msg)
		q.SetQuestion(z, dns.TypeSOA)
		r, _, err := c.ExchangeContext(ctx, q, u.Server)
		if err != nil {
			return "", fmt.Errorf("ask %s for the SOA of %s: %w", u.Server, z, err)
		}
		for _, a := range r.Answer {
			if soa, ok := a.(*dns.SOA); ok && strings.EqualFold(soa.Hdr.Name, z) {
				return z, nil
			}
		}
	}
	return "", errors.New("no zone of " + fqdn + " at " + u.Server + ": set acme.dns_update_zone")
}
