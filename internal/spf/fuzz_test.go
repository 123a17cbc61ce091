package spf

import (
	"context"
	"hash/fnv"
	"net"
	"net/netip"
	"testing"
)

// memResolver answers from memory: every name has the TXT record txt (so
// include and redirect recurse into the same record until a limit stops
// them); a name has an address or not by its hash; one MX; one PTR.
type memResolver struct{ txt string }

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (m memResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	return []string{m.txt}, nil
}

func (m memResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	h := fnv.New32a()
	h.Write([]byte(host))
	if h.Sum32()%2 == 0 {
		return nil, notFound(host)
	}
	if network == "ip6" {
		return []netip.Addr{netip.MustParseAddr("2001:db8::1")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("192.0.2.1")}, nil
}

func (m memResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return []*net.MX{{Host: "mx." + name + ".", Pref: 10}}, nil
}

func (m memResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return []string{"host.example.com."}, nil
}

// FuzzParse: any record parses or is a syntax error, the same way twice,
// without panicking; evaluated (every name publishing it), it gives one of
// the seven results within the limits of §4.6.4, and a record that does
// not parse is a permerror.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"v=spf1 -all",
		"v=spf1 a mx ptr ip4:192.0.2.0/24 ip6:2001:db8::/32 include:%{d} exists:%{ir}.%{l1r-}.x.example ~all",
		"v=spf1 a:foo:bar/baz.example.com/24//64 redirect=%{o}. exp=%{d2}.exp.example",
		"v=spf1 -exists:%{i}.%{s1}.100/86400.rate.%{d} x-mod=%{h}",
		"v=spf1 mx:%%%_/.Clara.de/27 ?all",
	} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, txt string, v4 bool) {
		rec, err := Parse(txt)
		rec2, err2 := Parse(txt)
		if (err == nil) != (err2 == nil) || (rec == nil) != (rec2 == nil) {
			t.Fatalf("Parse not deterministic: %v / %v", err, err2)
		}
		if err == nil && !IsSPF(txt) {
			t.Fatalf("%q parsed without v=spf1", txt)
		}
		ip := netip.MustParseAddr("192.0.2.1")
		if !v4 {
			ip = netip.MustParseAddr("2001:db8::1")
		}
		c := &Checker{Resolver: memResolver{txt}, Explain: true, Receiver: "mx.example.org"}
		o := c.CheckHost(context.Background(), ip, "example.com", "a.b+c@example.com", "helo.example.net")
		switch o.Result {
		case None, Neutral, Pass, Fail, SoftFail, TempError, PermError:
		default:
			t.Fatalf("result %q", o.Result)
		}
		if o.Lookups > MaxLookups+1 || o.VoidLookups > MaxVoidLookups+1 {
			t.Fatalf("limits passed: %d lookups, %d void", o.Lookups, o.VoidLookups)
		}
		if IsSPF(txt) && err != nil && o.Result != PermError {
			t.Fatalf("%q: syntax error %v, result %s", txt, err, o.Result)
		}
		if o.Reason == "" && o.Result != Pass {
			t.Fatalf("%s without a reason", o.Result)
		}
	})
}
