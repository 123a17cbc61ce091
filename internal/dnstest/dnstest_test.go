package dnstest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/dnsresolve"
)

func TestServerAnswersThroughTheResolver(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.MustAdd("example.net. 300 IN MX 10 mx1.example.net.",
		"example.net. 300 IN MX 20 mx2.example.net.",
		"mx1.example.net. 300 IN A 127.0.0.2",
		"mx1.example.net. 300 IN AAAA ::1",
		"nullmx.example. 300 IN MX 0 .",
		`example.net. 300 IN TXT "v=spf1 ip4:127.0.0.2 -all"`,
		`long.example. 300 IN TXT "`+strings.Repeat("x", 250)+`" "`+strings.Repeat("y", 250)+`"`,
	)
	r := dnsresolve.NewAt(s.Addr(), 2*time.Second)
	ctx := context.Background()

	mx, err := r.LookupMX(ctx, "example.net")
	if err != nil || len(mx) != 2 || mx[0].Host != "mx1.example.net." || mx[0].Pref != 10 {
		t.Fatalf("MX: %v %v", mx, err)
	}
	null, err := r.LookupMX(ctx, "nullmx.example")
	if err != nil || len(null) != 1 || null[0].Host != "." {
		t.Fatalf("null MX: %+v %v", null, err)
	}
	ips, err := r.LookupIPAddr(ctx, "mx1.example.net")
	if err != nil || len(ips) != 2 {
		t.Fatalf("addresses: %v %v", ips, err)
	}
	txt, err := r.LookupTXT(ctx, "example.net")
	if err != nil || len(txt) != 1 || txt[0] != "v=spf1 ip4:127.0.0.2 -all" {
		t.Fatalf("TXT: %q %v", txt, err)
	}
	// Over 512 bytes: truncated over UDP, then asked again over TCP.
	long, err := r.LookupTXT(ctx, "long.example")
	if err != nil || len(long) != 1 || len(long[0]) != 500 {
		t.Fatalf("long TXT: %d %v", len(long), err)
	}

	_, err = r.LookupMX(ctx, "missing.example")
	if !dnsresolve.IsNotFound(err) || dnsresolve.IsTemporary(err) {
		t.Fatalf("NXDOMAIN: %v (not found %v, temporary %v)", err, dnsresolve.IsNotFound(err), dnsresolve.IsTemporary(err))
	}
	s.ServFail("example.net", true)
	_, err = r.LookupMX(ctx, "example.net")
	if !dnsresolve.IsTemporary(err) || dnsresolve.IsNotFound(err) {
		t.Fatalf("SERVFAIL: %v", err)
	}
	s.ServFail("example.net", false)

	s.Delay("slow.example", time.Second)
	s.MustAdd("slow.example. 300 IN A 127.0.0.9")
	slow := dnsresolve.NewAt(s.Addr(), 200*time.Millisecond)
	start := time.Now()
	_, err = slow.LookupIPAddr(ctx, "slow.example")
	if !dnsresolve.IsTemporary(err) {
		t.Fatalf("timeout: %v", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("timeout took %v", el)
	}
	if n := s.Queries("example.net", 15); n < 2 {
		t.Fatalf("MX queries counted: %d", n)
	}
}
