package config

// DNS is how ebb asks the DNS: MX and address lookups for outbound mail,
// TXT records for MTA-STS, SPF, DKIM and DMARC.
type DNS struct {
	Resolver string   `toml:"resolver" default:"" doc:"The DNS server to ask, as host:port (e.g. 127.0.0.1:53 for a local validating resolver such as unbound). Empty uses the system's (/etc/resolv.conf)."`
	Timeout  Duration `toml:"timeout" default:"5s" min:"1ms" doc:"How long one DNS query may take before it counts as a temporary failure."`
	DNSSEC   bool     `toml:"dnssec" default:"false" doc:"dns.resolver validates DNSSEC, and ebb may trust the AD bit of its answers (Postfix: smtp_dns_support_level = dnssec). DANE needs it. Set it only for a validating resolver on this host (unbound or knot-resolver on 127.0.0.1) or reached over a path you trust: the bit itself is not protected on the way. ebb doctor checks that the resolver sets it."`
}

// check: the AD bit is trusted only from a server the admin named.
func (d DNS) check() []Problem {
	if d.DNSSEC && d.Resolver == "" {
		return []Problem{{Key: "dns.dnssec", Msg: "dns.dnssec = true needs dns.resolver: name the validating resolver whose AD bit ebb may trust (e.g. \"127.0.0.1:53\" for a local unbound), not whatever /etc/resolv.conf lists"}}
	}
	return nil
}
