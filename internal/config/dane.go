package config

// DANE is DNS-Based Authentication of Named Entities for outbound SMTP
// (RFC 7672): the relay authenticates an MX host's certificate with the
// host's TLSA records when DNSSEC vouches for them.
type DANE struct {
	Enable bool     `toml:"enable" default:"true" doc:"Authenticate TLS to MX hosts with their TLSA records (_25._tcp.HOST) where DNSSEC validates them: such a host gets mail only over TLS whose certificate one of its usable records (DANE-TA(2), DANE-EE(3)) matches, never in the clear; it takes precedence over the domain's MTA-STS policy (RFC 8461 §2). Works only with dns.dnssec = true (a validating dns.resolver); otherwise no TLSA record is trusted and delivery goes on as without DANE."`
	Exempt []string `toml:"exempt" default:"" doc:"Recipient domains (and their subdomains) whose MX hosts' TLSA records are not applied: mail to them goes by MTA-STS or relay.tls as if they published none. Only for a domain whose TLSA records no longer match its certificates, when its postmaster cannot fix them in time and you accept the risk they protect against; every such delivery is logged and counted (ebb_relay_dane_exempt_total). Empty: every TLSA record applies."`
}
