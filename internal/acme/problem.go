package acme

import (
	"errors"
	"fmt"
	"strings"

	xacme "golang.org/x/crypto/acme"
)

// problemOf finds the CA's problem document in err: a failed challenge
// (AuthorizationError → the challenge's *acme.Error), a failed order
// (OrderError.Problem) or an error reply to any request (*acme.Error).
func problemOf(err error) *Problem {
	var ae *xacme.AuthorizationError
	if errors.As(err, &ae) {
		for _, e := range ae.Errors {
			if p := problemOf(e); p != nil {
				return p
			}
		}
	}
	var oe *xacme.OrderError
	if errors.As(err, &oe) && oe.Problem != nil {
		return fromACME(oe.Problem)
	}
	var e *xacme.Error
	if errors.As(err, &e) {
		return fromACME(e)
	}
	return nil
}

func fromACME(e *xacme.Error) *Problem {
	p := &Problem{Type: e.ProblemType, Detail: e.Detail, Status: e.StatusCode}
	for _, sp := range e.Subproblems {
		p.Subproblems = append(p.Subproblems, Subproblem{Type: sp.Type, Detail: sp.Detail, Identifier: sp.Identifier.Value})
	}
	return p
}

// problemHint is the fix for an ACME problem type (RFC 8555 §6.7), for the
// challenge that was used. It names the setting or the DNS record to
// change; the CA's own detail says which address or record it saw.
func problemHint(p *Problem, name, challenge string) string {
	typ := ""
	if p != nil {
		typ = strings.TrimPrefix(p.Type, "urn:ietf:params:acme:error:")
		// A subproblem names the identifier that failed: use its type.
		for _, sp := range p.Subproblems {
			if sp.Identifier != "" {
				name = sp.Identifier
				typ = strings.TrimPrefix(sp.Type, "urn:ietf:params:acme:error:")
				break
			}
		}
	}
	// CAs differ in the type of a failed connection: Boulder says
	// connection, Pebble unauthorized with "Failed to connect". The
	// detail decides.
	if p != nil && (typ == "unauthorized" || typ == "incorrectResponse") {
		d := strings.ToLower(p.Detail)
		for _, sp := range p.Subproblems {
			d += " " + strings.ToLower(sp.Detail)
		}
		for _, w := range []string{"connect", "refused", "timeout", "no route", "unreachable"} {
			if strings.Contains(d, w) {
				typ = "connection"
			}
		}
	}
	port := "443 (web.listen, tls-alpn-01)"
	switch challenge {
	case "http-01":
		port = "80 (web.listen_http, http-01)"
	case "dns-01":
		port = ""
	}
	switch typ {
	case "connection":
		if port == "" {
			return "the CA could not reach the DNS servers of " + name + ": check that its zone's NS records answer from the internet"
		}
		return fmt.Sprintf("the CA could not connect to %s on port %s: check that the A/AAAA records of %s are this host's public addresses and that the port is open from the internet (firewall, NAT forwarding)", name, port, name)
	case "dns":
		return "the CA's DNS lookup of " + name + " failed: publish an A/AAAA record (or CNAME) for it in the public DNS, see ebb dns check"
	case "unauthorized", "incorrectResponse":
		if challenge == "dns-01" {
			return "the CA did not find the _acme-challenge." + name + " TXT record ebb set: check that acme.dns_update_server is the zone's primary and that its secondaries are in sync"
		}
		return fmt.Sprintf("the CA reached %s on port %s but another server answered: the name's address points elsewhere, or a proxy or another web server holds the port; point the name at this host or stop the other server", name, port)
	case "tls":
		return fmt.Sprintf("the CA's TLS connection to %s failed: check that nothing in front of ebb (a proxy, a load balancer) ends TLS on port 443, or use http-01 (acme.challenges)", name)
	case "caa":
		return "a CAA record of " + name + " or a parent domain forbids this CA: add a CAA record that allows it (e.g. CAA 0 issue \"letsencrypt.org\") or remove the CAA records"
	case "rateLimited":
		return "the CA's rate limit was reached: ebb retries by itself after the wait; do not restart ebb serve to hurry it (each start asks again)"
	case "rejectedIdentifier", "malformed":
		return "the CA will not issue for " + name + ": remove it from acme.names or acme.domain_names (an internal name, a typo?)"
	case "externalAccountRequired":
		return "this CA requires an external account binding, which ebb does not support yet: use another CA (acme.directory_url)"
	case "userActionRequired", "agreementRequired":
		return "the CA asks for an action on its web site (new terms of service?): follow the URL in its message"
	case "accountDoesNotExist":
		return "the CA no longer knows ebb's account: move " + "account.key out of acme.dir and let ebb register again"
	case "serverInternal", "badNonce":
		return "the CA had trouble of its own: ebb retries later"
	}
	if p == nil {
		return "check that the CA (acme.directory_url) is reachable from this host over HTTPS and that acme.ca_file (if set) holds its CA; ebb retries later"
	}
	return "see the CA's words; ebb retries later"
}
