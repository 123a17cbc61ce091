package doctor

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
)

// deadDNS answers every question with a timeout, as an unreachable
// resolver does.
type deadDNS struct{}

var errDead = &net.DNSError{Err: "i/o timeout", IsTimeout: true, IsTemporary: true}

func (deadDNS) LookupTXT(context.Context, string) ([]string, error) { return nil, errDead }
func (deadDNS) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, errDead
}
func (deadDNS) LookupMX(context.Context, string) ([]*net.MX, error)  { return nil, errDead }
func (deadDNS) LookupAddr(context.Context, string) ([]string, error) { return nil, errDead }

// An SPF record that cannot be read is the resolver's trouble: the fix
// names dns.resolver, never "add them to the SPF record", which would
// change nothing (found by a fresh install without a resolver).
func TestSPFFindingWithoutDNSNamesTheResolver(t *testing.T) {
	env := &Env{Cfg: config.Defaults()}
	f := spfFinding(context.Background(), env, deadDNS{}, "example.com", "mx.example.com",
		[]net.IPAddr{{IP: net.ParseIP("192.0.2.1")}}, nil)
	if f.Status != Warn || f.Err == nil {
		t.Fatalf("finding %+v", f)
	}
	if f.Err.Setting == nil || f.Err.Setting.Key != "dns.resolver" || strings.Contains(f.Err.Hint, "add them") || !strings.Contains(f.Err.Hint, "dns.resolver") {
		t.Errorf("without DNS, the SPF finding says %q (setting %v)", f.Err.Sentence(), f.Err.Setting)
	}
}
