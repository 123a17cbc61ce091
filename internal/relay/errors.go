package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/queue"
)

// newErr is a relay failure that is ours to describe (no remote reply).
func (r *Relay) newErr(rc *queue.Recipient, op, reason string, class diag.Class) *diag.Error {
	return &diag.Error{Component: Component, Op: op, Doing: "deliver to", Path: rc.Address, Reason: reason, Class: class, Public: reason}
}

// remoteErr is a failure at one step of a session with c; rep is the
// remote's reply when there was one. The remote's words go into
// diag.Remote (for mailq and the DSN) and into the sentence.
func (r *Relay) remoteErr(a *attempt, c *conn, step string, rep *reply, reason string, class diag.Class) *diag.Error {
	host, ip := a.hop.Domain, ""
	if c != nil {
		host, ip = c.host, c.ip
	}
	d := r.newErr(a.rc, step, reason, class)
	d.Remote = &diag.Remote{Host: host, IP: ip, Step: step, Policy: policyName(a)}
	if rep != nil {
		d.Remote.Code, d.Remote.Enhanced, d.Remote.Text = rep.Code, rep.Enhanced, rep.Text
		d.SMTPCode = rep.Code
		if e, ok := parseEnhanced(rep.Enhanced); ok {
			d.Enhanced = e
		}
	}
	return d
}

// policyName names the TLS policy a's session is under, in a few words.
func policyName(a *attempt) string {
	switch {
	case a.hop.Smarthost != "":
		return fmt.Sprintf("smarthost, TLS %s (%s)", a.level, a.setting)
	case a.dane != nil:
		return "DANE (TLSA at " + a.dane.Name + ", DNSSEC-validated)"
	case a.setting == "DANE":
		return "DANE (the TLSA lookup did not come back)"
	case a.setting == "REQUIRETLS":
		return "REQUIRETLS (verified TLS)"
	case a.sts != nil:
		return fmt.Sprintf("MTA-STS (mode %s, policy id %s)", a.sts.Mode, a.sts.ID)
	case a.level == "may":
		return fmt.Sprintf("opportunistic TLS (%s = may)", a.setting)
	}
	return fmt.Sprintf("TLS %s (%s)", a.level, a.setting)
}

func parseEnhanced(s string) ([3]int, bool) {
	var e [3]int
	if _, err := fmt.Sscanf(s, "%d.%d.%d", &e[0], &e[1], &e[2]); err != nil || s == "" {
		return e, false
	}
	return e, true
}

func peer(host, ip string) string {
	if ip == "" {
		return host
	}
	return fmt.Sprintf("%s[%s]", host, ip)
}

// failure turns an error of a transaction on c into the recipient's
// result.
func (r *Relay) failure(a *attempt, c *conn, err error, ctx context.Context) error {
	var se *stepError
	if !errors.As(err, &se) {
		return diag.From(err, Component, "relay")
	}
	var d *diag.Error
	if se.Reply != nil {
		class := diag.Temporary
		if se.Reply.Code >= 500 {
			class = diag.Permanent
		}
		d = r.remoteErr(a, c, se.Step, se.Reply,
			fmt.Sprintf("%s said at %s: %s", c.name(), stepName(se.Step), se.Reply), class)
		d.Hint = replyHint(se.Step, class)
		r.stats.remoteReply(se.Step, se.Reply.Code)
	} else {
		why := se.Err.Error()
		if ctx.Err() != nil {
			why = "the attempt ran out of time (queue.attempt_timeout): " + why
		}
		step := stepName(se.Step)
		if se.Pipelined {
			step = "MAIL, RCPT and DATA (pipelined, no reply)"
		}
		d = r.remoteErr(a, c, se.Step, nil, fmt.Sprintf("%s at %s: %s", c.name(), step, netReason(se.Err)), diag.Temporary)
		if ctx.Err() != nil {
			d.Reason = fmt.Sprintf("%s at %s: %s", c.name(), stepName(se.Step), why)
		}
		d.Hint = "the connection broke or the remote server did not answer in time; ebb retries. A lost reply after the data may mean a duplicate, never a loss"
		if se.Step == stepEnd {
			d.Setting = r.cfg.Setting("relay.data_timeout")
		}
	}
	if c.downgraded != "" && d.Temporary() {
		d.Reason += "; the session had been downgraded to plaintext after STARTTLS failed: " + c.downgraded
	}
	return d
}

// connFailure turns a failure to get a session into the recipient's
// result, and counts it toward the destination's suspension.
func (r *Relay) connFailure(a *attempt, dst *destination, err error, count bool) error {
	if he := (*hostError)(nil); errors.As(err, &he) && he.Setting != "" {
		// The host got TLS of its own (DANE): its error says so.
		c := *a
		c.level, c.setting, c.dane = he.Level, he.Setting, he.DANE
		a = &c
	}
	var dnse *dnsError
	var stse *stsError
	var de *diag.Error
	switch {
	case errors.As(err, &dnse):
		if dnse.NullMX {
			d := r.remoteErr(a, nil, stepDNS, nil, dnse.Error(), diag.Permanent)
			d.SMTPCode, d.Enhanced = 556, [3]int{5, 1, 10}
			d.Hint = "the domain declares that it accepts no mail: the address cannot work; tell the sender"
			return d
		}
		if dnse.Permanent || dnsresolve.IsNotFound(dnse.Err) {
			d := r.remoteErr(a, nil, stepDNS, nil, fmt.Sprintf("the domain %s does not exist (no MX and no address record)", dnse.Domain), diag.Permanent)
			d.SMTPCode, d.Enhanced = 550, [3]int{5, 1, 2}
			d.Hint = "check the spelling of the recipient's domain"
			return d
		}
		d := r.remoteErr(a, nil, stepDNS, nil, fmt.Sprintf("MX lookup of %s: %s", dnse.Domain, netReason(dnse.Err)), diag.Temporary)
		d.Setting = r.cfg.Setting("dns.resolver")
		d.Hint = "the DNS did not answer for this domain (SERVFAIL or timeout); ebb retries. If every domain fails, check dns.resolver (ebb doctor)"
		if r.secure != nil && !dnsresolve.IsNotFound(dnse.Err) {
			d.Hint = "the DNS did not answer for this domain (SERVFAIL or timeout); ebb retries. dns.resolver validates DNSSEC (dns.dnssec): it answers SERVFAIL when the domain's signatures do not validate (check with: delv MX " + dnse.Domain + "; a broken DNSSEC chain is for the domain's postmaster to fix). If every domain fails, check dns.resolver (ebb doctor)"
		}
		return d
	case errors.As(err, &stse):
		d := r.remoteErr(a, nil, stepDNS, nil, stse.Error(), diag.Temporary)
		d.Enhanced = [3]int{4, 7, 5}
		d.SetFix(diag.Because(fmt.Sprintf("the MTA-STS policy of %s (mode enforce) and its MX records disagree", stse.Domain),
			diag.Say(fmt.Sprintf("ask %s's postmaster to fix one of them; ebb retries and delivers once they agree", stse.Domain))).
			OrElse(r.exemptFix(stse.Domain)))
		return d
	case errors.As(err, &de):
		return de // our own trouble (credentials file)
	}
	var he *hostError
	var se *stepError
	host, ip := a.hop.Domain, ""
	if errors.As(err, &he) {
		host, ip = he.Host, he.IP
	}
	if !errors.As(err, &se) {
		return diag.From(err, Component, "connect")
	}
	c := &conn{host: host, ip: ip}
	var d *diag.Error
	if se.Reply != nil {
		// A greeting, EHLO, STARTTLS or AUTH reply: the session never
		// became usable; retry (an MX refusing at the greeting may be
		// overloaded), except a refused login.
		class := diag.Temporary
		if se.Step == stepAuth && se.Reply.Code >= 500 {
			class = diag.Permanent
		}
		d = r.remoteErr(a, c, se.Step, se.Reply, fmt.Sprintf("%s said at %s: %s", peer(host, ip), stepName(se.Step), se.Reply), class)
		d.Hint = replyHint(se.Step, class)
	} else {
		d = r.remoteErr(a, c, se.Step, nil, fmt.Sprintf("%s at %s: %s", peer(host, ip), stepName(se.Step), netReason(se.Err)), diag.Temporary)
		d.Hint = errHint(se.Step, a)
	}
	var tle *tlsaLookupError
	if errors.As(se.Err, &tle) {
		d.Reason = tle.Error()
		d.Setting = r.cfg.Setting("dns.resolver")
		d.SetFix(diag.Because(fmt.Sprintf("%s's MX records are DNSSEC-signed, so the TLSA records of %s decide how it is reached (DANE, RFC 7672), and their lookup fails: with a validating resolver, SERVFAIL means the signatures do not validate", a.hop.Domain, tle.Host),
			diag.Say(fmt.Sprintf("check with: delv TLSA %s; ask %s's postmaster to fix the zone's DNSSEC; ebb retries and tries the other MX hosts meanwhile", tle.Name, a.hop.Domain))).
			OrElse(r.daneExemptFix(a.hop.Domain)))
	}
	switch se.Step {
	case stepSTARTTLS:
		d.Setting = r.tlsSetting(a)
		if a.dane != nil {
			d.Reason += fmt.Sprintf(" (DANE applies: %s has DNSSEC-validated TLSA records, RFC 7672)", a.dane.Name)
		}
		if se.Reply == nil {
			d.SetFix(r.tlsFix(a, host, se.Err))
		}
	case stepConnect, stepGreeting:
		if a.hop.Smarthost != "" {
			d.Setting = r.cfg.Setting(a.hop.Setting)
		}
	case stepAuth:
		d.Setting = r.cfg.Setting("relay.credentials")
	}
	if se.Conn && count {
		if dst.connFailed(d.Reason, r.set.DeadAfter, r.set.DeadInterval.Duration, r.now()) {
			r.stats.suspension()
			r.log.Warn("destination suspended", "destination", dst.name, "failures", r.set.DeadAfter,
				"until", r.now().Add(r.set.DeadInterval.Duration).Format("15:04:05"), "last", d.Reason,
				"setting", "relay.dead_after")
		}
	}
	return d
}

// tlsSetting is the setting that chose a's TLS level: relay.tls or
// relay.tls_policy; none for a domain's MTA-STS policy or the sender's
// REQUIRETLS (their fixes say so).
func (r *Relay) tlsSetting(a *attempt) *diag.Setting {
	switch a.setting {
	case "relay.tls", "relay.tls_policy", "relay.smarthost_tls":
		return r.cfg.Setting(a.setting)
	case "MTA-STS", "REQUIRETLS", "DANE":
		return nil // the domain's published policy, the sender's request
	}
	return r.cfg.Setting("relay.tls")
}

// tlsFix is the remedy for a session that did not meet a's TLS level on
// host (principle 2: a hint that works when followed, and no downgrade a
// standard forbids). The level decides what can be changed here:
//   - REQUIRETLS (RFC 8689 §4.2.1): nothing. The sender asked for verified
//     TLS to the end; ebb never sends the message another way, and no
//     setting of ours may lower it.
//   - MTA-STS enforce (RFC 8461): the published policy is applied after
//     relay.tls_policy, so lowering that changes nothing; the remote's
//     postmaster fixes it, or the admin exempts the domain (mta_sts.exempt).
//   - relay.tls / relay.tls_policy: the remote's postmaster fixes it, or a
//     per-domain level that is as low as needed and no lower: encrypt for a
//     certificate that does not verify, may when TLS itself fails.
func (r *Relay) tlsFix(a *attempt, host string, err error) *diag.Fix {
	d := a.hop.Domain
	switch a.setting {
	case "REQUIRETLS":
		return diag.Because("the sender asked for REQUIRETLS (RFC 8689): the message goes only over TLS verified for the MX host, to a server that offers REQUIRETLS, and ebb never sends it another way",
			diag.Say(fmt.Sprintf("nothing to change here; %s's postmaster must give %s TLS with a certificate that verifies; ebb retries until the message expires, then returns it to its sender", d, host)))
	case "relay.smarthost_tls":
		// A smarthost gets TLS whatever relay.tls = may allows elsewhere:
		// the login and every message pass there.
		return diag.Because(fmt.Sprintf("the smarthost %s must speak TLS (relay.smarthost_tls: required unless relay.tls is none)", host),
			diag.Say("ask its operator for STARTTLS, or for its TLS port (465, then relay.smarthost_tls = \"implicit\"); ebb retries"))
	case "DANE":
		if a.pkix {
			return diag.Because(fmt.Sprintf("the sender asked for REQUIRETLS (RFC 8689) and %s publishes TLSA records none of which ebb can use: the certificate must verify for %s", d, host),
				diag.Say(fmt.Sprintf("nothing to change here; %s's postmaster must fix its TLSA records or certificate; ebb retries until the message expires", d)))
		}
		return diag.Because(fmt.Sprintf("%s (an MX host of %s) publishes DNSSEC-validated TLSA records at %s (DANE, RFC 7672): mail goes to it only over TLS whose certificate they match, whatever relay.tls, relay.tls_policy or MTA-STS say", host, d, a.dane.Name),
			diag.Say(fmt.Sprintf("ask %s's postmaster to publish TLSA records that match the certificate of %s (or to fix the certificate); check with: ebb route %s; ebb retries and delivers once they match", d, host, d))).
			OrElse(r.daneExemptFix(d))
	case "MTA-STS":
		return diag.Because(fmt.Sprintf("%s publishes an MTA-STS policy in mode enforce (RFC 8461): mail to it goes only over TLS verified for its MX host, whatever relay.tls_policy says", d),
			diag.Say(fmt.Sprintf("ask %s's postmaster to fix the certificate of %s (or the policy); ebb retries and delivers once it verifies", d, host))).
			OrElse(r.exemptFix(d))
	}
	level := "may"
	var cv *tls.CertificateVerificationError
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ie x509.CertificateInvalidError
	if errors.As(err, &cv) || errors.As(err, &ue) || errors.As(err, &he) || errors.As(err, &ie) {
		level = "encrypt" // TLS works; only the certificate does not verify
	}
	s := r.cfg.Setting("relay.tls_policy")
	return diag.Because(fmt.Sprintf("the TLS of %s does not meet the level %s (%s)", host, a.level, a.setting),
		diag.Say(fmt.Sprintf("ask %s's postmaster to fix it; ebb retries", d))).
		OrElse(diag.Because(fmt.Sprintf("to deliver to %s at level %s, if you accept that risk", d, level),
			diag.Set(s, tomlList(withEntry(r.cfg.Relay.TLSPolicy, d+"=", d+"="+level))), diag.Restart(s)))
}

// exemptFix is the way to deliver to domain despite its MTA-STS policy:
// add it to mta_sts.exempt, at the admin's own risk.
func (r *Relay) exemptFix(domain string) *diag.Fix {
	s := r.cfg.Setting("mta_sts.exempt")
	return diag.Because(fmt.Sprintf("to deliver to %s without the protection its policy asks for, at your own risk", domain),
		diag.Set(s, tomlList(withEntry(r.cfg.MTASTS.Exempt, domain, domain))), diag.Restart(s))
}

// daneExemptFix is the way to deliver to domain despite its MX hosts'
// TLSA records: add it to dane.exempt, at the admin's own risk.
func (r *Relay) daneExemptFix(domain string) *diag.Fix {
	s := r.cfg.Setting("dane.exempt")
	return diag.Because(fmt.Sprintf("to deliver to %s without the protection its TLSA records ask for, at your own risk", domain),
		diag.Set(s, tomlList(withEntry(r.cfg.DANE.Exempt, domain, domain))), diag.Restart(s))
}

// withEntry is list with entry in place of the items that start with
// prefix (a domain's earlier entry), or added at the end.
func withEntry(list []string, prefix, entry string) []string {
	var out []string
	for _, x := range list {
		if x == prefix || strings.HasPrefix(strings.ToLower(strings.TrimSpace(x)), prefix) && strings.HasSuffix(prefix, "=") {
			continue
		}
		out = append(out, x)
	}
	return append(out, entry)
}

// tomlList is list as a TOML array of strings.
func tomlList(list []string) string {
	q := make([]string, len(list))
	for i, x := range list {
		q[i] = diag.TOMLString(x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// suspended is the result for a recipient whose destination is dead.
func (r *Relay) suspended(a *attempt, err error) error {
	var se *suspendedError
	if !errors.As(err, &se) {
		d := r.newErr(a.rc, "wait", "the attempt ended while waiting for a connection slot to "+a.hop.key()+" (relay.max_per_destination)", diag.Temporary)
		return d
	}
	d := r.newErr(a.rc, "suspended", se.Error(), diag.Temporary)
	d.Remote = &diag.Remote{Host: a.hop.key(), Step: stepConnect}
	d.Setting = r.cfg.Setting("relay.dead_interval")
	d.Hint = fmt.Sprintf("ebb retries after the suspension; once the host is reachable again, ebb queue flush --domain %s retries at once", strings.Trim(a.hop.key(), "[]"))
	return d
}

func stepName(step string) string {
	switch step {
	case stepEnd:
		return "end of data"
	case stepConnect, stepDNS, stepGreeting:
		return step
	}
	return strings.ToUpper(step)
}

func replyHint(step string, class diag.Class) string {
	temp := class == diag.Temporary
	switch step {
	case stepRcpt:
		if temp {
			return "the remote server asks to try later (greylisting, rate limit or its own trouble); ebb retries"
		}
		return "the remote server refused the address: check it with the sender"
	case stepMail:
		if temp {
			return "the remote server asks to try later; ebb retries"
		}
		return "the remote server refused our sender: it may block this server's IP or domain (check SPF, DKIM, reverse DNS and blocklists)"
	case stepData, stepEnd:
		if temp {
			return "the remote server deferred the message; ebb retries"
		}
		return "the remote server refused the message itself (content filter or policy): its words say why"
	case stepAuth:
		return "the smarthost refused the login: check relay.credentials"
	}
	if temp {
		return "the remote server is not taking mail now; ebb retries"
	}
	return "the remote server refused the session; its words say why"
}

func errHint(step string, a *attempt) string {
	switch step {
	case stepConnect:
		if a.hop.Delivery {
			return "the delivery host (mail.delivery_host) does not accept connections: start ebb serve there, or fix mail.delivery_host; the message waits here and is retried"
		}
		if a.hop.Smarthost != "" {
			return "the smarthost does not accept connections: check relay.smarthost and that it is up (ebb doctor tries it)"
		}
		return "the remote host does not accept connections (down, or a firewall); ebb retries. If your provider blocks outbound port 25, set relay.smarthost (ebb doctor checks port 25)"
	case stepGreeting, stepEHLO:
		return "the remote server did not answer in time (relay.greeting_timeout); ebb retries"
	case stepAuth:
		return "check relay.credentials and that the smarthost offers AUTH over TLS"
	case stepDNS:
		return "the MX host's address could not be looked up; ebb retries"
	}
	return "ebb retries"
}

// netReason is the cause of a network or DNS error without the parts
// that differ per connection (local port) or mislead (the resolver Go
// names is resolv.conf's even when dns.resolver sent the query): "i/o
// timeout", "connection refused", "server misbehaving (SERVFAIL or
// refused)". The peer is named by the caller.
func netReason(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) {
		switch {
		case de.IsTimeout:
			return "no answer in time (dns.timeout)"
		case de.IsNotFound:
			return "no such name"
		case de.Err == "server misbehaving":
			return "the DNS server answered SERVFAIL or refused"
		}
		return de.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			return se.Err.Error()
		}
		return oe.Err.Error()
	}
	var te *tls.CertificateVerificationError
	if errors.As(err, &te) {
		return "TLS handshake: " + te.Err.Error()
	}
	return err.Error()
}
