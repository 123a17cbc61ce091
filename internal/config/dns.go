package config

// DNS is how ebb asks the DNS: MX and address lookups for outbound mail,
// TXT records for MTA-STS, SPF, DKIM and DMARC.
type DNS struct {
	Resolver string   `toml:"resolver" default:"" doc:"The DNS server to ask, as host:port (e.g. 127.0.0.1:53 for a local validating resolver such as unbound). Empty uses the system's (/etc/resolv.conf)."`
	Timeout  Duration `toml:"timeout" default:"5s" min:"1ms" doc:"How long one DNS query may take before it counts as a temporary failure."`
}
