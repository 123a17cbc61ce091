package dnsresolve_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/dnstest"
)

// The client asks the test server for names net.Resolver refuses, gives
// TXT octets as published, follows a CNAME the server gives alone, and
// classifies errors as net.Resolver does, naming the server it asked.
func TestClient(t *testing.T) {
	s, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.MustAdd(
		"foo:bar/baz.example.com. A 192.0.2.1",
		"jack+jill=up.example.com. A 192.0.2.2",
		"both.example.com. A 192.0.2.3",
		"both.example.com. AAAA 2001:db8::3",
		"alias.example.com. CNAME both.example.com.",
		"loop.example.com. CNAME loop.example.com.",
		"only6.example.com. AAAA 2001:db8::6",
		"example.com. MX 10 both.example.com.",
		"3.2.0.192.in-addr.arpa. PTR both.example.com.",
		`long.example.com. TXT "`+strings.Repeat("x", 250)+`" "`+strings.Repeat("y", 250)+`"`,
	)
	s.AddRR(&dns.TXT{Hdr: dns.RR_Header{Name: "raw.example.com.", Rrtype: dns.TypeTXT, Class: dns.ClassINET},
		Txt: []string{"v=spf1 a:\xef\xbb\xbfx.example -all", ` \"quoted\" \\back`}})
	c := dnsresolve.NewClientAt(s.Addr(), 5*time.Second)
	ctx := context.Background()

	// net.Resolver answers "no such host" without asking.
	if _, err := dnsresolve.NewAt(s.Addr(), 5*time.Second).LookupNetIP(ctx, "ip4", "foo:bar/baz.example.com"); err == nil {
		t.Log("net.Resolver now looks up names with ':' and '/'")
	}
	for name, want := range map[string]string{"foo:bar/baz.example.com": "192.0.2.1", "jack+jill=up.example.com.": "192.0.2.2"} {
		ips, err := c.LookupNetIP(ctx, "ip4", name)
		if err != nil || len(ips) != 1 || ips[0].String() != want {
			t.Errorf("%s: %v %v, want %s", name, ips, err, want)
		}
	}
	// One type per IP version: ip4 asks A only.
	before := s.Queries("both.example.com", dns.TypeAAAA)
	if ips, err := c.LookupNetIP(ctx, "ip4", "both.example.com"); err != nil || len(ips) != 1 || !ips[0].Is4() {
		t.Errorf("ip4: %v %v", ips, err)
	}
	if n := s.Queries("both.example.com", dns.TypeAAAA); n != before {
		t.Errorf("ip4 asked AAAA too")
	}
	if ips, err := c.LookupNetIP(ctx, "ip", "both.example.com"); err != nil || len(ips) != 2 {
		t.Errorf("ip: %v %v", ips, err)
	}
	// The server gives the CNAME alone (dnstest does not chase it): the
	// client asks for its target.
	if ips, err := c.LookupNetIP(ctx, "ip6", "alias.example.com"); err != nil || len(ips) != 1 || ips[0] != netip.MustParseAddr("2001:db8::3") {
		t.Errorf("alias: %v %v", ips, err)
	}
	if _, err := c.LookupNetIP(ctx, "ip4", "loop.example.com"); err == nil || dnsresolve.IsNotFound(err) || !strings.Contains(err.Error(), "CNAME loop") {
		t.Errorf("loop: %v", err)
	}
	txt, err := c.LookupTXT(ctx, "raw.example.com")
	if err != nil || len(txt) != 1 || txt[0] != "v=spf1 a:\xef\xbb\xbfx.example -all \"quoted\" \\back" {
		t.Errorf("raw TXT: %q %v", txt, err)
	}
	// Over 512 octets: truncated over UDP, asked again over TCP.
	if txt, err := c.LookupTXT(ctx, "long.example.com"); err != nil || len(txt) != 1 || len(txt[0]) != 500 {
		t.Errorf("long TXT: %d %v", len(txt), err)
	}
	if mx, err := c.LookupMX(ctx, "example.com"); err != nil || len(mx) != 1 || mx[0].Host != "both.example.com." || mx[0].Pref != 10 {
		t.Errorf("MX: %v %v", mx, err)
	}
	if ptr, err := c.LookupAddr(ctx, "192.0.2.3"); err != nil || len(ptr) != 1 || ptr[0] != "both.example.com." {
		t.Errorf("PTR: %v %v", ptr, err)
	}

	// Not found: NXDOMAIN and an empty answer alike, never temporary.
	for _, q := range []struct{ network, name string }{{"ip4", "missing.example.com"}, {"ip4", "only6.example.com"}} {
		_, err := c.LookupNetIP(ctx, q.network, q.name)
		if !dnsresolve.IsNotFound(err) || dnsresolve.IsTemporary(err) {
			t.Errorf("%s: %v (not found %v)", q.name, err, dnsresolve.IsNotFound(err))
		}
	}
	if _, err := c.LookupTXT(ctx, strings.Repeat("a", 64)+".example.com"); !dnsresolve.IsNotFound(err) {
		t.Errorf("a label over 63 octets: %v", err)
	}
	// SERVFAIL: temporary, and the error names the server asked.
	s.ServFail("example.com", true)
	_, err = c.LookupMX(ctx, "example.com")
	var de *net.DNSError
	if !dnsresolve.IsTemporary(err) || !strings.Contains(err.Error(), s.Addr()) {
		t.Errorf("SERVFAIL: %v", err)
	} else if de, _ = err.(*net.DNSError); de == nil || de.Server != s.Addr() {
		t.Errorf("SERVFAIL: server %+v", de)
	}
	s.ServFail("example.com", false)

	// A server that does not answer in time: a timeout, temporary.
	s.Delay("slow.example.com", time.Second)
	s.MustAdd("slow.example.com. A 192.0.2.9")
	slow := dnsresolve.NewClientAt(s.Addr(), 100*time.Millisecond)
	_, err = slow.LookupNetIP(ctx, "ip4", "slow.example.com")
	if !dnsresolve.IsTemporary(err) || !errorsAsTimeout(err) {
		t.Errorf("timeout: %v", err)
	}
}

func errorsAsTimeout(err error) bool {
	de, ok := err.(*net.DNSError)
	return ok && de.IsTimeout
}
