package config

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// Auth is message authentication of mail from outside: SPF, DKIM and
// DMARC on port 25, with the results in an Authentication-Results field.
type Auth struct {
	Check            bool     `toml:"check" default:"true" doc:"Check SPF (MAIL FROM and HELO), DKIM and DMARC on mail that arrives on port 25, and put the results in one Authentication-Results field (RFC 8601). Mail from submission and from auth.trusted_networks is not checked (it is signed as it leaves)."`
	AuthservID       string   `toml:"authserv_id" default:"" doc:"The name ebb's Authentication-Results fields carry (RFC 8601 2.5); fields in incoming mail that claim it are removed before the message is stored. Empty: server.hostname."`
	TrustedNetworks  []string `toml:"trusted_networks" default:"" doc:"Port 25 clients (CIDR) whose mail is not checked, e.g. a backup MX of yours that checked it already. Empty: every client is checked."`
	DMARCReject      bool     `toml:"dmarc_reject" default:"true" doc:"Refuse at the end of DATA, with 550 5.7.1 naming the domain and the failed checks, a message that fails DMARC when its domain publishes p=reject. false: accept it, marked in the header."`
	QuarantineFolder string   `toml:"quarantine_folder" default:"Junk" doc:"The folder for mail that fails DMARC when its domain publishes p=quarantine (and for p=reject mail when auth.dmarc_reject is false), when the mailbox's Sieve script does not file it itself. Empty: the inbox, marked in the header."`
	Timeout          Duration `toml:"timeout" default:"20s" min:"1ms" doc:"The longest all checks of one message may take together (each DNS query is also bounded by dns.timeout); what has no answer by then is temperror in the header, never a refusal."`
	DNSCacheTime     Duration `toml:"dns_cache_time" default:"1m" min:"0s" doc:"How long the answers of the checks' DNS lookups (found or not found; never failures) are kept in memory, so that a burst of mail from one sender asks the DNS once. Record TTLs are not known to ebb: a changed SPF, DKIM or DMARC record is seen at most this late. 0: every message asks the resolver."`
	MaxSignatures    int      `toml:"dkim_max_signatures" default:"5" min:"1" doc:"How many DKIM signatures of one message are verified (one DNS lookup each); more are ignored, and the header says how many."`
}

// AuthservID is auth.authserv_id, or the host name (server.hostname, else
// the machine's), lower case.
func (c *Config) AuthservID() string {
	id := c.Auth.AuthservID
	if id == "" {
		id = c.Server.Hostname
	}
	if id == "" {
		id, _ = os.Hostname()
	}
	return strings.ToLower(id)
}

// check: trusted networks must be CIDR prefixes.
func (a Auth) check() []Problem {
	var probs []Problem
	for _, n := range a.TrustedNetworks {
		if _, err := netip.ParsePrefix(strings.TrimSpace(n)); err != nil {
			probs = append(probs, Problem{Key: "auth.trusted_networks", Msg: fmt.Sprintf("auth.trusted_networks: %q is not a network in CIDR form (e.g. 192.0.2.0/24 or 2001:db8::/32)", n)})
		}
	}
	return probs
}
