package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dnsresolve"
)

// daneChecks: DANE for outbound mail needs a resolver that validates
// DNSSEC and that ebb may trust (dns.dnssec). The check asks dns.resolver
// for the root zone's SOA with the AD bit requested: a validating resolver
// with the root's trust anchor sets it; one that does not validate never
// does, and DANE would then silently never apply.
func daneChecks() []Check {
	return []Check{{Name: "dane", Run: checkDANE}}
}

func checkDANE(ctx context.Context, env *Env) []Finding {
	const name = "dane"
	cfg := env.Cfg
	switch {
	case !cfg.DANE.Enable:
		return []Finding{Passed(name, "dane.enable", "off: TLSA records of MX hosts are not looked up")}
	case !cfg.DNS.DNSSEC:
		return []Finding{Passed(name, "dns.dnssec", "not in use: dns.dnssec = false, so no TLSA record is trusted (set it with a validating dns.resolver, e.g. unbound on 127.0.0.1: docs/dane.md)")}
	}
	var out []Finding
	resolver := cfg.DNS.Resolver
	if host, _, err := net.SplitHostPort(resolver); err == nil {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			e := diag.New("config", "trust the AD bit of", resolver,
				errors.New("dns.resolver is not on this host: the AD bit that DANE relies on crosses the network unprotected, and anyone on the path can set it"))
			e.Setting = cfg.Setting("dns.resolver")
			e.SetFix(diag.Because("DANE is only as safe as the path to the validating resolver (RFC 7672 §2.1)",
				diag.Say("run a validating resolver on this host (unbound, listening on 127.0.0.1:53) and set dns.resolver to it; or keep this one if the path to it is protected (IPsec, a private link)")))
			out = append(out, Warned(name, e))
		}
	}
	c := dnsresolve.NewClient(cfg)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	ans, err := c.Lookup(cctx, ".", dns.TypeSOA)
	cancel()
	switch {
	case err != nil:
		e := diag.New("lookup", "ask the validating resolver", resolver, fmt.Errorf("the root zone's SOA: %w", err))
		e.Setting = cfg.Setting("dns.resolver")
		e.SetFix(diag.Because("dns.dnssec = true and dns.resolver does not answer: every MX lookup fails and mail to other hosts waits",
			diag.Say("start the resolver at "+resolver+" (systemctl status unbound), or set dns.resolver to one that answers")))
		out = append(out, Failed(name, e))
	case !ans.Secure:
		e := diag.New("lookup", "check that DNSSEC is validated by", resolver,
			errors.New("its answer for the root zone's SOA has no AD bit: it does not validate DNSSEC (or has no trust anchor for the root), so no TLSA record would ever count and DANE never applies"))
		s := cfg.Setting("dns.dnssec")
		e.Setting = s
		e.SetFix(diag.Because("dns.dnssec says dns.resolver validates, and it does not",
			diag.Say("point dns.resolver at a validating resolver (unbound validates with the root's trust anchor by default: docs/dane.md)")).
			OrElse(diag.Because("to go on without DANE", diag.Set(s, "false"), diag.Restart(s))))
		out = append(out, Failed(name, e))
	default:
		out = append(out, Passed(name, resolver, "validates DNSSEC (the root zone's answer has the AD bit): TLSA records of MX hosts apply (DANE, RFC 7672)"))
	}
	return out
}
