package config

import (
	"fmt"
	"net/url"
	"strings"
)

// ACME is the automatic certificate management of RFC 8555 (Let's Encrypt
// and other CAs): ebb obtains and renews the certificates of its own names
// itself (internal/acme; docs/acme.md).
type ACME struct {
	Enable       bool     `toml:"enable" default:"false" doc:"Obtain and renew TLS certificates from an ACME CA (RFC 8555) for server.hostname, acme.names, and the acme.domain_names of every hosted domain (mta-sts.DOMAIN, autoconfig.DOMAIN). Turning it on accepts the CA's terms of service. STARTTLS on port 25 and submission use the certificate unless smtp.tls_cert (submission.tls_cert) is set; web.listen serves the others."`
	DirectoryURL string   `toml:"directory_url" default:"https://acme-v02.api.letsencrypt.org/directory" doc:"The ACME directory of the CA. Let's Encrypt's staging CA (https://acme-staging-v02.api.letsencrypt.org/directory) is for trying a setup out: its certificates are not trusted."`
	Email        string   `toml:"email" default:"" doc:"The contact address given to the CA at registration (mailto:), where it writes about expiring certificates and problems. Empty: no contact."`
	Names        []string `toml:"names" default:"" doc:"More names on the server's certificate besides server.hostname: the names clients use for submission (smtp.example.com) when they differ. The server's certificate is the one STARTTLS, submission and the TLSA record use."`
	DomainNames  []string `toml:"domain_names" default:"mta-sts,autoconfig" doc:"For every hosted domain, one certificate per name LABEL.DOMAIN: mta-sts (the MTA-STS policy host, RFC 8461 §3.3), autoconfig (Thunderbird), autodiscover (Outlook). A name without an address record in DNS is not ordered (the CA would refuse it): ebb dns check DOMAIN tells what to publish. Empty: no per-domain certificates."`
	Challenges   []string `toml:"challenges" default:"tls-alpn-01,http-01" doc:"The challenge types ebb offers to prove a name is its own, in order of preference: tls-alpn-01 (the CA connects to port 443: web.listen), http-01 (port 80: web.listen_http), dns-01 (a TXT record set by RFC 2136 update at acme.dns_update_server; the only one that works for a host not reachable from the internet)."`
	Dir          string   `toml:"dir" default:"{data_dir}/acme" doc:"Where the account key, certificates, their private keys (mode 0600, owned by server.user) and the state of each renewal are kept."`
	KeyType      string   `toml:"key_type" default:"ecdsa" oneof:"ecdsa,rsa" doc:"The key type of certificates: ecdsa (P-256) or rsa (2048 bits, for old clients that cannot use ECDSA)."`
	RenewBefore  Duration `toml:"renew_before" default:"30d" min:"1h" doc:"Renew a certificate this long before it expires (at most a third of its lifetime before, so that short-lived certificates are not renewed at once again)."`
	RetryMin     Duration `toml:"retry_min" default:"10m" min:"1s" doc:"After a failed order, the first retry waits this long; each further failure doubles the wait up to acme.retry_max. The CA's own limits (Let's Encrypt: 5 failed validations per name an hour) are kept this way."`
	RetryMax     Duration `toml:"retry_max" default:"12h" min:"1s" doc:"The longest wait between retries of a failing order."`
	CAFile       string   `toml:"ca_file" default:"" doc:"A PEM file of extra CA certificates trusted for the ACME server's HTTPS besides the system's (a private CA; the tests' Pebble). Empty: the system's roots."`
	Timeout      Duration `toml:"timeout" default:"5m" min:"1s" doc:"How long one order (account, challenges, validation by the CA, finalisation) may take before it counts as failed."`

	DNSUpdateServer  string `toml:"dns_update_server" default:"" doc:"dns-01: the primary DNS server of the zones (host:port) that accepts RFC 2136 updates signed with the TSIG key below; ebb adds _acme-challenge.NAME TXT records there and removes them afterwards."`
	DNSUpdateKeyName string `toml:"dns_update_key_name" default:"" doc:"dns-01: the TSIG key's name (as in the server's config, e.g. ebb-acme)."`
	DNSUpdateKeyFile string `toml:"dns_update_key_file" default:"" doc:"dns-01: a file holding the TSIG secret in base64 (as tsig-keygen prints it), readable only by server.user."`
	DNSUpdateAlgo    string `toml:"dns_update_algorithm" default:"hmac-sha256" oneof:"hmac-sha256,hmac-sha512,hmac-sha1" doc:"dns-01: the TSIG algorithm."`
	DNSUpdateZone    string `toml:"dns_update_zone" default:"" doc:"dns-01: the zone to update. Empty: found by asking acme.dns_update_server for the SOA of each name's parent domains."`
}

// ACMEDir is acme.dir with {data_dir} expanded.
func (c *Config) ACMEDir() string {
	return strings.ReplaceAll(c.ACME.Dir, "{data_dir}", c.Server.DataDir)
}

// check: ACME needs a way for the CA to reach a challenge.
func (c *Config) checkACME() []Problem {
	a := c.ACME
	if !a.Enable {
		return nil
	}
	var probs []Problem
	if u, err := url.Parse(a.DirectoryURL); err != nil || u.Scheme != "https" || u.Host == "" {
		probs = append(probs, Problem{Key: "acme.directory_url", Msg: fmt.Sprintf("acme.directory_url: %q is not an https:// URL (RFC 8555 §6.1 requires HTTPS)", a.DirectoryURL)})
	}
	usable := 0
	for _, ch := range a.Challenges {
		switch ch {
		case "http-01":
			if len(c.Web.ListenHTTP) == 0 {
				probs = append(probs, Problem{Key: "acme.challenges", Msg: "acme.challenges: http-01 needs web.listen_http (port 80, where the CA asks)"})
				continue
			}
		case "tls-alpn-01":
			if len(c.Web.Listen) == 0 {
				probs = append(probs, Problem{Key: "acme.challenges", Msg: "acme.challenges: tls-alpn-01 needs web.listen (port 443, where the CA connects)"})
				continue
			}
		case "dns-01":
			if a.DNSUpdateServer == "" || a.DNSUpdateKeyName == "" || a.DNSUpdateKeyFile == "" {
				probs = append(probs, Problem{Key: "acme.challenges", Msg: "acme.challenges: dns-01 needs acme.dns_update_server, acme.dns_update_key_name and acme.dns_update_key_file"})
				continue
			}
		default:
			probs = append(probs, Problem{Key: "acme.challenges", Msg: fmt.Sprintf("acme.challenges: unknown challenge %q; use tls-alpn-01, http-01 or dns-01", ch)})
			continue
		}
		usable++
	}
	if usable == 0 && len(probs) == 0 {
		probs = append(probs, Problem{Key: "acme.challenges", Msg: "acme.challenges: empty; the CA needs one way to check the names (tls-alpn-01, http-01 or dns-01)"})
	}
	if a.RetryMax.Duration < a.RetryMin.Duration {
		probs = append(probs, Problem{Key: "acme.retry_max", Msg: "acme.retry_max: shorter than acme.retry_min"})
	}
	return probs
}
