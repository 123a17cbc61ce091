package relay

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/mtasts"
)

type fixedSTS map[string]*mtasts.Policy

func (f fixedSTS) Get(_ context.Context, d string) (*mtasts.Policy, error) { return f[d], nil }

// Plan says what Deliver would do, without connecting: MX hosts by
// preference, the TLS level and its setting, a route's smarthost, MTA-STS
// enforce raising the level and skipping the hosts its policy leaves out,
// a null MX as a permanent error.
func TestPlanWithoutConnecting(t *testing.T) {
	e := newEnv(t, 25, "tls_policy = [\"strict.example=verify\"]\nroutes = [\"partner.example=[127.0.0.9]:2525\"]\n")
	e.dns.MustAdd(
		"example.net. 300 IN MX 20 b.example.net.", "example.net. 300 IN MX 10 a.example.net.",
		"strict.example. 300 IN MX 10 mx.strict.example.",
		"sts.example. 300 IN MX 10 mx1.sts.example.", "sts.example. 300 IN MX 20 backup.other.example.",
		"null.example. 300 IN MX 0 .",
	)
	r := e.relay(Options{STS: fixedSTS{"sts.example": {Domain: "sts.example", Mode: mtasts.Enforce, MX: []string{"*.sts.example"}, Fetched: time.Now()}}})
	ctx := context.Background()

	p, err := r.Plan(ctx, "example.net", false)
	if err != nil || p.TLS != "may" || p.TLSSetting != "relay.tls" || len(p.Hosts) != 2 || p.Hosts[0].Name != "a.example.net" || p.Hosts[1].Name != "b.example.net" {
		t.Errorf("example.net: %+v %v", p, err)
	}
	if p, _ := r.Plan(ctx, "strict.example", false); p.TLS != "verify" || p.TLSSetting != "relay.tls_policy" {
		t.Errorf("strict.example: %+v", p)
	}
	if p, _ := r.Plan(ctx, "example.net", true); p.TLS != "verify" || p.TLSSetting != "REQUIRETLS" {
		t.Errorf("REQUIRETLS: %+v", p)
	}
	if p, err := r.Plan(ctx, "partner.example", false); err != nil || p.Smarthost != "[127.0.0.9]:2525" || p.Setting != "relay.routes" || len(p.Hosts) != 0 {
		t.Errorf("partner.example: %+v %v", p, err)
	}
	p, err = r.Plan(ctx, "sts.example", false)
	if err != nil || p.TLS != "verify" || p.TLSSetting != "MTA-STS" || len(p.Hosts) != 2 || p.Hosts[0].Skipped || !p.Hosts[1].Skipped {
		t.Errorf("sts.example: %+v %v", p, err)
	}
	_, err = r.Plan(ctx, "null.example", false)
	var de *dnsError
	if !errors.As(err, &de) || !de.NullMX || !PermanentDNS(err) {
		t.Errorf("null.example: err %v, want a permanent null MX", err)
	}
}

type failingSTS struct{}

func (failingSTS) Get(context.Context, string) (*mtasts.Policy, error) {
	return nil, errors.New("cached policy unreadable")
}

// Plan meets what Deliver meets before connecting, with the same code:
// MTA-STS enforce that lists none of the MX hosts fails (as connect does,
// not only marks them skipped), a domain with no MX whose own name does
// not exist is permanent (connect's NXDOMAIN), one with an address is
// planned, and a policy that could not be had is reported, not dropped.
func TestPlanFailsWhereDeliveryFails(t *testing.T) {
	e := newEnv(t, 25, "")
	e.dns.MustAdd(
		"stsbad.example. 300 IN MX 10 mx.stsbad.example.",
		"addr.example. 300 IN A 127.0.0.5",
		"plain.example. 300 IN MX 10 mx.plain.example.",
	)
	r := e.relay(Options{STS: fixedSTS{"stsbad.example": {Domain: "stsbad.example", Mode: mtasts.Enforce, MX: []string{"*.elsewhere.example"}, Fetched: time.Now()}}})
	ctx := context.Background()

	p, err := r.Plan(ctx, "stsbad.example", false)
	var se *stsError
	if !errors.As(err, &se) || PermanentDNS(err) || len(p.Hosts) != 1 || !p.Hosts[0].Skipped {
		t.Errorf("stsbad.example: %+v %v, want an MTA-STS error (temporary) with the host skipped", p, err)
	}
	p, err = r.Plan(ctx, "nxdomain.example", false)
	if !PermanentDNS(err) || len(p.Hosts) != 1 || !p.Hosts[0].Implicit {
		t.Errorf("nxdomain.example: %+v %v, want a permanent DNS error", p, err)
	}
	if p, err := r.Plan(ctx, "addr.example", false); err != nil || len(p.Hosts) != 1 || !p.Hosts[0].Implicit {
		t.Errorf("addr.example: %+v %v, want its own address, no error", p, err)
	}
	r2 := e.relay(Options{STS: failingSTS{}})
	if p, err := r2.Plan(ctx, "plain.example", false); err != nil || p.STSErr == nil || p.STS != nil || len(p.Hosts) != 1 {
		t.Errorf("plain.example with the policy unavailable: %+v %v, want STSErr set and the hosts", p, err)
	}
}
