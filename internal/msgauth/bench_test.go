package msgauth

import (
	"context"
	"net"
	"strings"
	"testing"
)

// BenchmarkCheck is the whole inbound check of a signed 4 KiB message with
// SPF, DKIM and DMARC records in the loopback test DNS.
func BenchmarkCheck(b *testing.B) {
	w := newWorld(b)
	w.key(b, "example.org", "ed1", "ed25519", true)
	w.dns.MustAdd(`example.org. TXT "v=spf1 ip4:127.0.0.0/8 -all"`, `_dmarc.example.org. TXT "v=DMARC1; p=reject"`)
	msg := plainMsg + strings.Repeat("The quick brown fox jumps over the lazy dog, again and again.\r\n", 64)
	p := w.file(b, w.sign(b, msg)+msg)
	c := &Checker{Resolver: w.res}
	in := Input{IP: net.ParseIP("127.0.0.2"), Helo: "mx.example.org", MailFrom: "a@example.org", Path: p}
	b.ResetTimer()
	for range b.N {
		if r := c.Check(context.Background(), in); r.DMARC.Result != "pass" {
			b.Fatal(r)
		}
	}
}
