package spf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/dnstest"
)

// The RFC 7208 test suite (testdata/rfc7208-tests.yml, pyspf's copy,
// unchanged; see testdata/rfc7208-tests.README): every test, IPv4 and
// IPv6 clients, result and explanation, asked through dnsresolve.Client
// of a DNS server on loopback that serves the suite's zone data.

type suiteScenario struct {
	Description string
	Tests       map[string]suiteTest
	ZoneData    map[string][]any `yaml:"zonedata"`
}

type suiteTest struct {
	Description string
	Spec        any
	Helo        string
	Host        string
	MailFrom    string `yaml:"mailfrom"`
	Result      any    // a result or a list of acceptable ones
	Explanation *string
}

func (t suiteTest) results() []string {
	switch v := t.Result.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

func loadSuite(t testing.TB, path string) []suiteScenario {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []suiteScenario
	dec := yaml.NewDecoder(f)
	for {
		var s suiteScenario
		err := dec.Decode(&s)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, s)
	}
	return out
}

// strs is a TXT/SPF value: one string or a list of strings (one record of
// several character-strings).
func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := []string{}
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

// serveZone loads a scenario's zone data into srv the way pyspf's test
// driver (test/testspf.py) reads it: SPF records are served as TXT too
// when a name has no TXT entry; "TXT: NONE" is no record; a TIMEOUT entry
// makes every type without a record before it fail (SERVFAIL: a
// temporary failure to the check, as a timeout is, without the wait).
func serveZone(t testing.TB, srv *dnstest.Server, zone map[string][]any) {
	for name, entries := range zone {
		fq := canonName(name)
		hdr := func(rrtype uint16) dns.RR_Header {
			return dns.RR_Header{Name: fq, Rrtype: rrtype, Class: dns.ClassINET, Ttl: 300}
		}
		hasTXT := false
		for _, e := range entries {
			if m, ok := e.(map[string]any); ok {
				if _, ok := m["TXT"]; ok {
					hasTXT = true
				}
			}
		}
		var rrs []dns.RR
		var generated []dns.RR
		answered := map[uint16]bool{}
		timeout := false
		for _, e := range entries {
			if s, ok := e.(string); ok && s == "TIMEOUT" {
				timeout = true
				break
			}
			m, ok := e.(map[string]any)
			if !ok {
				t.Fatalf("zone %s: entry %v", name, e)
			}
			for typ, v := range m {
				var rr dns.RR
				switch typ {
				case "TIMEOUT":
					timeout = true
				case "A":
					h := hdr(dns.TypeA)
					rr = &dns.A{Hdr: h, A: net.ParseIP(fmt.Sprint(v)).To4()}
				case "AAAA":
					h := hdr(dns.TypeAAAA)
					rr = &dns.AAAA{Hdr: h, AAAA: net.ParseIP(fmt.Sprint(v))}
				case "MX":
					l := v.([]any)
					h := hdr(dns.TypeMX)
					rr = &dns.MX{Hdr: h, Preference: uint16(l[0].(int)), Mx: dns.Fqdn(fmt.Sprint(l[1]))}
				case "PTR":
					h := hdr(dns.TypePTR)
					rr = &dns.PTR{Hdr: h, Ptr: dns.Fqdn(fmt.Sprint(v))}
				case "CNAME":
					h := hdr(dns.TypeCNAME)
					rr = &dns.CNAME{Hdr: h, Target: dns.Fqdn(fmt.Sprint(v))}
				case "TXT":
					if s, ok := v.(string); ok && s == "NONE" {
						continue
					}
					h := hdr(dns.TypeTXT)
					rr = &dns.TXT{Hdr: h, Txt: strs(v)}
				case "SPF":
					h := hdr(dns.TypeSPF)
					rr = &dns.SPF{Hdr: h, Txt: strs(v)}
					if !hasTXT {
						h := hdr(dns.TypeTXT)
						generated = append(generated, &dns.TXT{Hdr: h, Txt: strs(v)})
					}
				default:
					t.Fatalf("zone %s: unknown type %s", name, typ)
				}
				if rr != nil {
					rrs = append(rrs, rr)
					answered[rr.Header().Rrtype] = true
				}
			}
			if timeout {
				break
			}
		}
		if !timeout {
			// pyspf appends the generated TXT records after the others.
			for _, rr := range generated {
				rrs = append(rrs, rr)
				answered[dns.TypeTXT] = true
			}
		}
		if len(rrs) == 0 && !timeout {
			// The name exists (NOERROR, no data): pyspf's zone has it.
			srv.AddRR(&dns.NULL{Hdr: hdr(dns.TypeNULL)})
		}
		srv.AddRR(rrs...)
		if timeout {
			for _, typ := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeTXT, dns.TypePTR, dns.TypeSPF, dns.TypeCNAME} {
				if !answered[typ] {
					srv.ServFailType(fq, typ, true)
				}
			}
		}
	}
}

// canonName is name as miekg/dns presents it after a round trip on the
// wire (a space or another special octet escaped), the form the test
// server compares query names in.
func canonName(name string) string {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(strings.ReplaceAll(name, `\`, `\\`)), dns.TypeA)
	b, err := m.Pack()
	if err != nil {
		return dns.Fqdn(name) // not a valid DNS name: never asked for
	}
	var back dns.Msg
	if err := back.Unpack(b); err != nil {
		return dns.Fqdn(name)
	}
	return back.Question[0].Name
}

type suiteCount struct{ v4, v6, v4ok, v6ok int }

// runSuite runs every test of the file through check, one subtest each,
// and returns the counts. checkExp also compares the explanation of a
// fail where the suite gives one ("DEFAULT" for none).
func runSuite(t *testing.T, path string, checkExp bool, check func(ctx context.Context, r Resolver, ip netip.Addr, domain, sender, helo string) (Result, string)) suiteCount {
	var n suiteCount
	for _, sc := range loadSuite(t, path) {
		srv, err := dnstest.Start()
		if err != nil {
			t.Fatal(err)
		}
		serveZone(t, srv, sc.ZoneData)
		res := dnsresolve.NewClientAt(srv.Addr(), 10*time.Second)
		names := make([]string, 0, len(sc.Tests))
		for name := range sc.Tests {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			tc := sc.Tests[name]
			ip, err := netip.ParseAddr(tc.Host)
			if err != nil {
				t.Fatalf("%s: host %q: %v", name, tc.Host, err)
			}
			sender := tc.MailFrom
			if sender == "" {
				sender = "postmaster@" + tc.Helo
			}
			domain := sender[strings.LastIndexByte(sender, '@')+1:]
			ok := t.Run(sc.Description+"/"+name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				got, exp := check(ctx, res, ip, domain, sender, tc.Helo)
				want := tc.results()
				found := false
				for _, w := range want {
					found = found || string(got) == w
				}
				if !found {
					t.Errorf("%s (spec %v): result %s (%s), want %v", name, tc.Spec, got, exp, want)
				}
				if checkExp && tc.Explanation != nil && string(got) == "fail" {
					if exp == "" {
						exp = "DEFAULT"
					}
					if exp != *tc.Explanation {
						t.Errorf("%s (spec %v): explanation %q, want %q", name, tc.Spec, exp, *tc.Explanation)
					}
				}
			})
			if ip.Is4() {
				n.v4++
				if ok {
					n.v4ok++
				}
			} else {
				n.v6++
				if ok {
					n.v6ok++
				}
			}
		}
		srv.Close()
	}
	return n
}

func TestRFC7208Suite(t *testing.T) {
	n := runSuite(t, "testdata/rfc7208-tests.yml", true, func(ctx context.Context, r Resolver, ip netip.Addr, domain, sender, helo string) (Result, string) {
		c := &Checker{Resolver: r, Explain: true}
		o := c.CheckHost(ctx, ip, domain, sender, helo)
		if o.Result == Fail {
			return o.Result, o.Explanation
		}
		return o.Result, o.Reason
	})
	t.Logf("RFC 7208 suite: IPv4 %d of %d passed, IPv6 %d of %d passed", n.v4ok, n.v4, n.v6ok, n.v6)
	if n.v4+n.v6 < 200 {
		t.Errorf("only %d tests in the suite: the file was not read whole", n.v4+n.v6)
	}
}
