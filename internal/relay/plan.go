package relay

import (
	"context"
	"errors"

	"github.com/ebbmail/ebb/internal/mtasts"
)

// Plan is where the relay would take mail for one recipient domain and
// how, found without connecting anywhere (ebb route): the hop that
// relay.smarthost and relay.routes choose, the TLS level and the setting
// that chose it, the domain's MTA-STS policy as the STS source gives it,
// and for MX delivery the hosts in the order they would be tried.
type Plan struct {
	Domain     string
	Smarthost  string // host:port; "" is MX delivery
	Implicit   bool   // implicit TLS to the smarthost
	Setting    string // what chose the smarthost ("relay.smarthost", "relay.routes"), "" for MX
	TLS        string // none, may, encrypt, verify
	TLSSetting string // relay.tls, relay.tls_policy, REQUIRETLS or MTA-STS
	STS        *mtasts.Policy
	Hosts      []PlanHost
}

// PlanHost is one MX host in the order of trial.
type PlanHost struct {
	Name     string
	Pref     uint16
	Implicit bool // no MX record: the domain's own address (RFC 5321 §5.1)
	// Skipped: MTA-STS enforce would not use it (its name is not in the
	// policy's mx patterns, RFC 8461 §4.1).
	Skipped bool
}

// Plan plans delivery to domain as Deliver would (the same router, TLS
// levels, MTA-STS and MX order), without connecting. The error is the MX
// lookup's (a null MX is permanent, as at delivery).
func (r *Relay) Plan(ctx context.Context, domain string, requireTLS bool) (*Plan, error) {
	h := r.router.route(domain)
	p := &Plan{Domain: h.Domain, Smarthost: h.Smarthost, Implicit: h.Implicit, Setting: h.Setting}
	p.TLS, p.TLSSetting = r.tlsLevel(h.Domain)
	if requireTLS {
		p.TLS, p.TLSSetting = "verify", "REQUIRETLS"
	}
	if h.Smarthost != "" {
		return p, nil
	}
	if r.sts != nil {
		if pol, err := r.sts.Get(ctx, h.Domain); err == nil && pol != nil && pol.Mode != mtasts.None {
			p.STS = pol
			if pol.Mode == mtasts.Enforce {
				p.TLS, p.TLSSetting = "verify", "MTA-STS"
			}
		}
	}
	hosts, err := lookupMX(ctx, r.res, h.Domain, r.set.MaxMX, nil)
	if err != nil {
		return p, err
	}
	for _, mx := range hosts {
		ph := PlanHost{Name: mx.Name, Pref: mx.Pref, Implicit: mx.Implicit}
		ph.Skipped = p.STS != nil && p.STS.Mode == mtasts.Enforce && !p.STS.Matches(mx.Name)
		p.Hosts = append(p.Hosts, ph)
	}
	return p, nil
}

// PermanentDNS reports whether a Plan error says the domain cannot receive
// mail at all (a null MX, RFC 7505), rather than DNS trouble to retry.
func PermanentDNS(err error) bool {
	var de *dnsError
	return errors.As(err, &de) && de.Permanent
}
