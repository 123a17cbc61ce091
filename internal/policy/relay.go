package policy

import (
	"context"
	"fmt"
	"net/netip"
)

// Client is who is asking: the connection's address, and the account it
// logged in as ("" before or without AUTH).
type Client struct {
	IP      netip.Addr
	Account string
}

// Domains answers whether ebb hosts a domain; directory.Resolver has this
// method.
type Domains interface {
	IsLocalDomain(ctx context.Context, domain string) (bool, error)
}

// Route is where a recipient that is accepted goes.
type Route int

const (
	// Local: a hosted domain; whether the mailbox exists is the next check.
	Local Route = iota + 1
	// Relay: a remote domain, for an authenticated or trusted client.
	Relay
)

func (r Route) String() string {
	switch r {
	case Local:
		return "local"
	case Relay:
		return "relay"
	}
	return "refused"
}

// Relaying is the relay decision: who may send mail to domains ebb does not
// host. Only an authenticated client (submission with AUTH) or a client in
// TrustedNetworks may; everyone else may only reach hosted domains.
type Relaying struct {
	Domains Domains
	// TrustedNetworks are the networks whose clients relay without AUTH
	// (submission.trusted_networks).
	TrustedNetworks []netip.Prefix
}

// ParseNetworks parses CIDR prefixes (or single addresses) from the config.
func ParseNetworks(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a network (CIDR) nor an address", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Trusted reports whether ip is in a trusted network. An IPv4-mapped IPv6
// address counts as its IPv4 address.
func (p *Relaying) Trusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, n := range p.TrustedNetworks {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// MayRelay reports whether the client may send to remote domains, and why.
func (p *Relaying) MayRelay(c Client) (bool, string) {
	switch {
	case c.Account != "":
		return true, "authenticated as " + c.Account
	case p.Trusted(c.IP):
		return true, "client in submission.trusted_networks"
	}
	return false, ""
}

// Recipient decides one RCPT TO. The refusal, when there is one, is the SMTP
// reply; err is trouble asking the directory (a 4xx for the client).
func (p *Relaying) Recipient(ctx context.Context, c Client, rcpt string) (Address, Route, *Refusal, error) {
	a, r := ParseAddress(rcpt)
	if r != nil {
		return Address{}, 0, r, nil
	}
	if !a.IsLiteral() {
		local, err := p.Domains.IsLocalDomain(ctx, a.Domain)
		if err != nil {
			return a, 0, nil, fmt.Errorf("is %s a hosted domain: %w", a.Domain, err)
		}
		if local {
			return a, Local, nil, nil
		}
	}
	if ok, _ := p.MayRelay(c); ok {
		return a, Relay, nil, nil
	}
	// Postfix answers relay attempts with 554 5.7.1 (relay_domains_reject_code).
	return a, 0, &Refusal{Code: 554, Enhanced: [3]int{5, 7, 1},
		Message: fmt.Sprintf("<%s>: relay access denied: %s is not a domain hosted here; log in (AUTH on the submission port) to send elsewhere", clip(rcpt), clip(a.Domain))}, nil
}
