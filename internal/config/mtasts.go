package config

// MTASTS is SMTP MTA Strict Transport Security (RFC 8461) for outbound
// mail: fetching, caching and applying recipient domains' policies.
type MTASTS struct {
	Enable   bool     `toml:"enable" default:"true" doc:"Look up the MTA-STS policy of every domain mail is relayed to (_mta-sts TXT, then https://mta-sts.DOMAIN/.well-known/mta-sts.txt). enforce: an MX that is not in the policy, or whose certificate does not verify, is not used (the delivery is deferred, saying which MX and why). testing: the failure is logged and counted, mail goes on."`
	CacheDir string   `toml:"cache_dir" default:"{data_dir}/mta-sts" doc:"Where fetched policies are kept (one JSON file per domain) so that they survive restarts, as RFC 8461 §5.1 asks; a failed refresh keeps the cached policy until its max_age."`
	Timeout  Duration `toml:"timeout" default:"30s" min:"1ms" doc:"How long fetching one policy over HTTPS may take (RFC 8461 §3.3 suggests about a minute at most)."`
	CAFile   string   `toml:"ca_file" default:"" doc:"A PEM file of extra CA certificates trusted for policy hosts besides the system's (a private CA; the tests' CA). Empty: the system's roots only."`
	Port     int      `toml:"port" default:"443" min:"1" doc:"The HTTPS port of policy hosts. RFC 8461 §3.3 fixes it at 443; change it only for tests on loopback."`
	Exempt   []string `toml:"exempt" default:"" doc:"Recipient domains (and their subdomains) whose MTA-STS policy is not applied: mail to them goes at relay.tls or relay.tls_policy as if they published none. Only for a domain whose policy and MX disagree, or whose MX certificate does not verify, when its postmaster cannot fix it in time and you accept the risk the policy protects against; every such delivery is logged and counted (ebb_relay_mta_sts_exempt_total). Empty: every policy applies."`
}
