package config

// SRS is the Sender Rewriting Scheme for mail ebb forwards to other hosts
// (aliases and Sieve redirects to remote addresses): see docs/srs.md.
type SRS struct {
	Enable     bool     `toml:"enable" default:"false" doc:"Rewrite the envelope sender of forwarded mail to an SRS address of srs.domain (SRS0=hash=time=domain=user@srs.domain, as libsrs2 and postsrsd), so that SPF at the next hop passes; bounces to those addresses are turned back into the original sender, forged or expired ones refused at RCPT. Off: forwarded mail keeps its original sender (and fails SPF where the sender's domain publishes it)."`
	Domain     string   `toml:"domain" default:"" doc:"The domain of the rewritten addresses. Its MX must be this host, and it should publish SPF for it. Empty: server.hostname. Best a domain of its own, outside the organizational domains of the hosted domains: forwards of mail from outside whose From: is in srs.domain's organizational domain are not rewritten (docs/srs.md; ebb doctor warns)."`
	SecretFile string   `toml:"secret_file" default:"{data_dir}/srs.secret" doc:"The secret that signs SRS addresses: the first non-empty line makes new addresses, every line is accepted for old ones (to rotate, add the new secret as the first line and keep the old below for srs.max_age). Readable only by server.user (mode 0600); ebb serve creates it with a random secret when it is missing."`
	MaxAge     Duration `toml:"max_age" default:"21d" doc:"How long a rewritten address is accepted for a bounce (libsrs2 counts in days; at most 1023d)."`
	Exclude    []string `toml:"exclude_domains" default:"" doc:"Sender domains that are never rewritten, besides the hosted domains (whose mail ebb may send itself)."`
}
