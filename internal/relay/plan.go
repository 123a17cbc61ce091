package relay

import (
	"context"
	"errors"
	"fmt"

	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/mtasts"
	"github.com/ebbmail/ebb/internal/queue"
)

// Plan is where the relay would take mail for one recipient domain and
// how, found without connecting anywhere (ebb route): the hop that
// relay.smarthost and relay.routes choose, the TLS level and the setting
// that chose it, the domain's MTA-STS policy as the STS source gives it,
// and for MX delivery the hosts (hosts of equal preference are shuffled at
// each delivery, so their order here is one of those the relay may try).
type Plan struct {
	Domain     string
	Smarthost  string // host:port; "" is MX delivery
	Implicit   bool   // implicit TLS to the smarthost
	Setting    string // what chose the smarthost ("relay.smarthost", "relay.routes"), "" for MX
	TLS        string // none, may, encrypt, verify
	TLSSetting string // relay.tls, relay.tls_policy, REQUIRETLS or MTA-STS
	STS        *mtasts.Policy
	// STSErr is why the domain's MTA-STS policy could not be had: the
	// relay logs it and delivers as without a policy (RFC 8461 §5.1).
	STSErr error
	Hosts  []PlanHost
}

// PlanHost is one MX host in the order of trial.
type PlanHost struct {
	Name     string
	Pref     uint16
	Implicit bool // no MX record: the domain's own address (RFC 5321 §5.1)
	// Skipped: MTA-STS enforce would not use it (its name is not in the
	// policy's mx patterns, RFC 8461 §4.1), and DANE does not apply to it.
	Skipped bool
	// DANE says what DANE (RFC 7672) makes of the host: its TLSA records
	// and that TLS is required and authenticated by them, or why DANE
	// does not apply ("" when DANE is off: no validating resolver).
	DANE string
	// DANERecords are the host's DNSSEC-validated TLSA records.
	DANERecords []string
}

// Plan plans delivery to domain as Deliver would, with Deliver's own code
// (plan: the router, TLS levels, MTA-STS; stsHosts: the hosts MTA-STS
// lets it try), without connecting. The error is what delivery would meet
// before connecting: the MX lookup's (a null MX is permanent), MTA-STS
// enforce listing none of the MX hosts (*stsError, temporary), or a domain
// with no MX whose own name has no address (NXDOMAIN: permanent). A policy
// that could not be had is p.STSErr: delivery goes on without it.
func (r *Relay) Plan(ctx context.Context, domain string, requireTLS bool) (*Plan, error) {
	m := &queue.Message{ID: "plan", Envelope: queue.Envelope{RequireTLS: requireTLS}}
	a, err := r.plan(ctx, m, &queue.Recipient{Address: "postmaster@" + domain})
	if err != nil {
		return &Plan{Domain: domain}, err
	}
	h := a.hop
	p := &Plan{Domain: h.Domain, Smarthost: h.Smarthost, Implicit: h.Implicit, Setting: h.Setting,
		TLS: a.level, TLSSetting: a.setting, STS: a.sts, STSErr: a.stsErr}
	if h.Smarthost != "" {
		return p, nil
	}
	useDANE := r.daneOn(a)
	var hosts []mxHost
	mxSecure := false
	if useDANE {
		hosts, mxSecure, err = r.lookupMXSecure(ctx, h.Domain)
	} else {
		hosts, err = lookupMX(ctx, r.res, h.Domain, r.set.MaxMX, nil)
	}
	if err != nil {
		return p, err
	}
	listed := make([]bool, len(hosts))
	if a.sts != nil {
		_, listed, err = stsHosts(h.Domain, a.sts, hosts)
	}
	anyDANE := false
	for i, mx := range hosts {
		ph := PlanHost{Name: mx.Name, Pref: mx.Pref, Implicit: mx.Implicit}
		if useDANE {
			ph.DANE, ph.DANERecords = r.planDANE(ctx, h.Domain, mx, mxSecure)
			anyDANE = anyDANE || len(ph.DANERecords) > 0
		}
		ph.Skipped = a.sts != nil && a.sts.Mode == mtasts.Enforce && !listed[i] && len(ph.DANERecords) == 0
		p.Hosts = append(p.Hosts, ph)
	}
	if err != nil && !anyDANE {
		return p, err
	}
	if len(hosts) == 1 && hosts[0].Implicit {
		// No MX: the domain's own address, looked up as connect does; an
		// NXDOMAIN there means the domain cannot get mail.
		if _, err := lookupAddrs(ctx, r.res, hosts[0].Name, r.set.MaxAddrs); err != nil {
			err = fmt.Errorf("no MX record, and no address for %s: %w", hosts[0].Name, err)
			return p, &dnsError{Domain: h.Domain, Permanent: dnsresolve.IsNotFound(err), Err: err}
		}
	}
	return p, nil
}

// planDANE says what DANE makes of one MX host, as connect decides it.
func (r *Relay) planDANE(ctx context.Context, domain string, mx mxHost, mxSecure bool) (string, []string) {
	if !mxSecure {
		return "does not apply: the MX records of " + domain + " are not DNSSEC-validated (RFC 7672 §2.2.1)", nil
	}
	_, secure, expanded, err := r.lookupAddrsSecure(ctx, mx.Name)
	if err != nil {
		return "unknown: address lookup failed: " + netReason(err), nil
	}
	if !secure {
		return "does not apply: the address records of " + mx.Name + " are not DNSSEC-validated (RFC 7672 §2.2.2)", nil
	}
	dh, err := r.lookupTLSA(ctx, domain, mx.Name, expanded, mx.Implicit)
	if err != nil {
		return "host unusable: " + err.Error(), nil
	}
	if dh == nil {
		return "does not apply: no DNSSEC-validated TLSA record at _25._tcp." + mx.Name, nil
	}
	if len(dh.Usable) == 0 {
		return "TLS required without authentication: no usable TLSA record at " + dh.Name + " (RFC 7672 §2.2)", dh.Strings()
	}
	return "TLS required, authenticated by the TLSA records at " + dh.Name + " (DNSSEC-validated); takes precedence over MTA-STS", dh.Strings()
}

// PermanentDNS reports whether a Plan error says the domain cannot receive
// mail at all (a null MX, RFC 7505), rather than DNS trouble to retry.
func PermanentDNS(err error) bool {
	var de *dnsError
	return errors.As(err, &de) && de.Permanent
}
