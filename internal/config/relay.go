package config

import (
	"fmt"
	"net"
	"strings"
)

// Relay is outbound delivery to other hosts (internal/relay): MX routing
// or a smarthost, TLS policy, per-destination limits.
type Relay struct {
	Smarthost    string   `toml:"smarthost" default:"" doc:"Send all outbound mail through this host (host:port) instead of looking up MX records, e.g. your provider's submission server smtp.example.net:587. Empty: deliver directly to each domain's MX hosts."`
	SmarthostTLS string   `toml:"smarthost_tls" default:"starttls" oneof:"starttls,implicit" doc:"How the smarthost speaks TLS: starttls (port 587 or 25, STARTTLS after EHLO, required unless relay.tls is none) or implicit (port 465, TLS from the first byte, RFC 8314)."`
	Credentials  string   `toml:"credentials" default:"" doc:"A file with the smarthost login as one line user:password (AUTH PLAIN or LOGIN, only over TLS). It must be readable by server.user only (mode 0600 or 0400); ebb doctor checks it and tries the login. Empty: no AUTH."`
	Routes       []string `toml:"routes" default:"" doc:"Per-domain routes as domain=host:port (through that host, with relay.credentials when set) or domain=direct (to the domain's MX hosts even when relay.smarthost is set). A domain matches itself and its subdomains; the longest match wins."`
	Port         int      `toml:"port" default:"25" min:"1" doc:"The port of MX hosts (RFC 5321: 25). Only tests and unusual networks change it."`
	HeloName     string   `toml:"helo_name" default:"" doc:"The name ebb gives in EHLO. Empty: server.hostname. Receivers check that it resolves to the sending address."`
	TLS          string   `toml:"tls" default:"may" oneof:"none,may,encrypt,verify" doc:"The TLS level toward other hosts (Postfix's names): none (never STARTTLS), may (STARTTLS when offered; a failed handshake is retried in the clear and counted as a downgrade), encrypt (TLS required, certificate not checked), verify (TLS required, the certificate must chain to a trusted CA and name the MX host). MTA-STS enforce and REQUIRETLS raise it to verify for their messages."`
	TLSPolicy    []string `toml:"tls_policy" default:"" doc:"Per-destination TLS levels as domain=level (none, may, encrypt, verify), overriding relay.tls for that domain and its subdomains (longest match wins). For a smarthost route the domain is the recipient's."`
	TLSCAFile    string   `toml:"tls_ca_file" default:"" doc:"PEM file of the CA certificates that verify trusts. Empty: the system's roots."`
	MaxConn      int      `toml:"max_connections" default:"100" min:"1" doc:"The most outbound SMTP connections at once, over all destinations."`
	MaxPerDest   int      `toml:"max_per_destination" default:"20" min:"1" doc:"The most connections at once to one destination (a recipient domain, or a smarthost), as Postfix's default_destination_concurrency_limit."`
	MaxAddrs     int      `toml:"max_addresses_per_host" default:"4" min:"1" doc:"How many addresses of one MX host are tried (IPv6 and IPv4 in turn) before the next MX host."`
	MaxMX        int      `toml:"max_mx_hosts" default:"5" min:"1" doc:"How many MX hosts of one domain are tried in one attempt."`
	DeadAfter    int      `toml:"dead_after" default:"3" min:"1" doc:"After this many connection or TLS failures in a row, a destination is suspended for relay.dead_interval: its messages are deferred at once (mailq says why and until when) instead of each waiting for a timeout. ebb queue flush --domain D retries it at once."`
	DeadInterval Duration `toml:"dead_interval" default:"5m" min:"1ms" doc:"How long a dead destination stays suspended; then one connection tries it again."`
	ConnTimeout  Duration `toml:"connect_timeout" default:"30s" min:"1ms" doc:"How long a TCP connection to one address may take (Postfix: smtp_connect_timeout)."`
	GreetTimeout Duration `toml:"greeting_timeout" default:"5m" min:"1ms" doc:"How long to wait for the server's 220 greeting and the EHLO and STARTTLS replies (RFC 5321 4.5.3.2.1: 5 minutes)."`
	CmdTimeout   Duration `toml:"command_timeout" default:"5m" min:"1ms" doc:"How long to wait for the reply to MAIL, RCPT, DATA and RSET (RFC 5321 4.5.3.2)."`
	DataTimeout  Duration `toml:"data_timeout" default:"10m" min:"1ms" doc:"How long the remote may take to accept each part of the message data (RFC 5321 4.5.3.2.5: the wait for progress, not the whole transfer: a large message to a slow but steady server goes through) and to reply after the end of the data (RFC 5321 4.5.3.2.6: 10 minutes)."`
	IdleTimeout  Duration `toml:"idle_timeout" default:"5s" min:"0s" doc:"How long an open connection waits for the next message to the same destination (RSET between) before QUIT. 0: one message per connection."`
	Port25Probe  string   `toml:"port25_probe" default:"" doc:"A host:port that ebb doctor connects to, to learn whether outbound port 25 is open here (many providers block it; then relay.smarthost is the way out), e.g. the MX of a large mail provider. Empty: not checked."`
	ReuseLimit   Duration `toml:"reuse_time_limit" default:"300s" min:"0s" doc:"The longest one connection is reused for (Postfix: smtp_connection_reuse_time_limit)."`
}

// RelayRoute is one entry of relay.routes.
type RelayRoute struct {
	Domain string
	// Host is host:port, or "" for direct (MX) delivery.
	Host string
}

// ParseRoutes parses relay.routes.
func (r Relay) ParseRoutes() ([]RelayRoute, error) {
	var out []RelayRoute
	for _, s := range r.Routes {
		d, v, ok := strings.Cut(s, "=")
		d, v = normDomain(d), strings.TrimSpace(v)
		if !ok || d == "" || v == "" {
			return nil, fmt.Errorf("relay.routes: %q is not domain=host:port or domain=direct", s)
		}
		if strings.EqualFold(v, "direct") {
			out = append(out, RelayRoute{Domain: d})
			continue
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			return nil, fmt.Errorf("relay.routes: %q: the host needs a port (host:587): %v", s, err)
		}
		out = append(out, RelayRoute{Domain: d, Host: v})
	}
	return out, nil
}

// ParseTLSPolicy parses relay.tls_policy into domain → level.
func (r Relay) ParseTLSPolicy() (map[string]string, error) {
	out := map[string]string{}
	for _, s := range r.TLSPolicy {
		d, v, ok := strings.Cut(s, "=")
		d, v = normDomain(d), strings.ToLower(strings.TrimSpace(v))
		if !ok || d == "" {
			return nil, fmt.Errorf("relay.tls_policy: %q is not domain=level", s)
		}
		switch v {
		case "none", "may", "encrypt", "verify":
		default:
			return nil, fmt.Errorf("relay.tls_policy: %q: the level must be none, may, encrypt or verify", s)
		}
		out[d] = v
	}
	return out, nil
}

func normDomain(d string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
}

func (r Relay) check() []Problem {
	var probs []Problem
	if _, err := r.ParseRoutes(); err != nil {
		probs = append(probs, Problem{Key: "relay.routes", Msg: err.Error()})
	}
	if _, err := r.ParseTLSPolicy(); err != nil {
		probs = append(probs, Problem{Key: "relay.tls_policy", Msg: err.Error()})
	}
	if r.Smarthost != "" {
		if _, _, err := net.SplitHostPort(r.Smarthost); err != nil {
			probs = append(probs, Problem{Key: "relay.smarthost", Msg: fmt.Sprintf("relay.smarthost: %q needs a port (smtp.example.net:587): %v", r.Smarthost, err)})
		}
	}
	return probs
}
