package daemon

import (
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/relay"
)

// startRelay makes the remote transport (internal/relay) from the relay
// and dns settings, with the DKIM signer and the MTA-STS policies, and
// registers its metrics. It returns an exit code (0: started).
func (d *daemon) startRelay() int {
	r, err := d.newRelay()
	if err != nil {
		return d.fail(err, "relay")
	}
	d.relay = r
	if d.metrics != nil {
		d.metrics.Registry.MustRegister(r.Metrics().Collectors()...)
	}
	return 0
}

// newRelay is the relay with the daemon's options, for ebb serve and for
// ebb route (d.dryRun): route's gets the cached MTA-STS policies only
// (nothing asked of DNS, nothing fetched) and no DKIM signer (it sends
// nothing to sign).
func (d *daemon) newRelay() (*relay.Relay, error) {
	o := relay.Options{
		Resolver: dnsresolve.New(d.cfg),
		Log:      d.log.With("component", "relay"),
		Hostname: d.cfg.Server.Hostname,
	}
	if d.cfg.DNS.DNSSEC && d.cfg.DANE.Enable {
		// DANE (RFC 7672) trusts the AD bit of dns.resolver's answers:
		// only when the admin says it validates (dns.dnssec).
		o.Secure = dnsresolve.NewClient(d.cfg)
	}
	if d.dir != nil {
		o.Hosted = d.dir.IsLocalDomain // mail.delivery_host (transport.go routes hosted mail here then)
	}
	if d.dryRun {
		if c := d.mtastsCache(); c != nil {
			o.STS = stsPeek{c}
		}
	} else {
		o.STS, o.Sign = d.stsPolicies(), d.dkimSign()
		o.TLSReport = d.tlsReport() // reports.go: TLS-RPT
	}
	return relay.New(d.cfg, o)
}

// stopRelay ends the relay's idle sessions.
func (d *daemon) stopRelay() {
	if d.relay != nil {
		d.relay.Close()
	}
}

// remote is the queue's remote transport.
func (d *daemon) remote() queue.Transport {
	if d.relay == nil {
		return queue.NoRemote
	}
	return d.relay
}

// resumeRelay lifts the relay's suspension of domain (ebb queue flush
// --domain).
func (d *daemon) resumeRelay(domain string) int {
	if d.relay == nil {
		return 0
	}
	return d.relay.Resume(domain)
}

// stsPolicies is MTA-STS for the relay (mta_sts.*, mtasts.go); nil when
// mta_sts.enable is off.
func (d *daemon) stsPolicies() relay.STSPolicies {
	c := d.mtastsCache()
	if c == nil {
		return nil // not a typed nil: the relay tests the interface
	}
	return c
}
