package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/ebbmail/ebb/internal/dane"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/mtasts"
)

// hostError is a failure of one host or address, kept for the report when
// every host failed. Level, Setting and DANE are the TLS that host was
// asked for, when it differs from the attempt's (DANE).
type hostError struct {
	Host, IP string
	Err      error
	Level    string
	Setting  string
	DANE     *daneHost
}

func (e *hostError) Error() string {
	if e.IP != "" {
		return fmt.Sprintf("%s[%s]: %v", e.Host, e.IP, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Host, e.Err)
}

func (e *hostError) Unwrap() error { return e.Err }

// stsError is MTA-STS enforce refusing every MX host.
type stsError struct {
	Domain string
	MX     []string // patterns of the policy
	Hosts  []string // the MX hosts DNS gave
}

func (e *stsError) Error() string {
	return fmt.Sprintf("MTA-STS policy of %s (mode enforce) allows mx %s; none of its MX hosts %s matches (RFC 8461 §4.1)",
		e.Domain, strings.Join(e.MX, ", "), strings.Join(e.Hosts, ", "))
}

// stsHosts applies a domain's MTA-STS policy to its MX hosts (RFC 8461
// §4.1): listed says which hosts the policy's mx patterns match; use is
// the hosts to try, only the listed ones in enforce mode, all of them in
// testing mode. Enforce with no host listed is an *stsError. Deliver
// (connect) and Plan share it, so that ebb route says what delivery does.
func stsHosts(domain string, pol *mtasts.Policy, hosts []mxHost) (use []mxHost, listed []bool, err error) {
	listed = make([]bool, len(hosts))
	var ok []mxHost
	for i, h := range hosts {
		if pol.Matches(h.Name) {
			listed[i] = true
			ok = append(ok, h)
		}
	}
	if pol.Mode != mtasts.Enforce {
		return hosts, listed, nil
	}
	if len(ok) == 0 {
		return nil, listed, &stsError{Domain: domain, MX: pol.MX, Hosts: hostNames(hosts)}
	}
	return ok, listed, nil
}

func hostNames(hosts []mxHost) []string {
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Name
	}
	return names
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// connect opens a session for a: the smarthost, or the MX hosts in order,
// each of their addresses in turn. The error is the last host's failure,
// or a DNS or MTA-STS one.
//
// With DANE (RFC 7672), MX and address records come from the validating
// resolver with their DNSSEC status, and a host whose TLSA records DNSSEC
// vouches for gets a session of its own kind (forHost): TLS required and
// authenticated by the records, whatever relay.tls or MTA-STS say (RFC
// 8461 §2: DANE takes precedence, so such a host is tried even when an
// MTA-STS policy in enforce mode does not list it).
func (r *Relay) connect(ctx context.Context, a *attempt) (*conn, error) {
	var hosts []mxHost
	port := fmt.Sprint(r.set.Port)
	useDANE := r.daneOn(a)
	mxSecure := false
	var listed []bool
	if a.hop.Smarthost != "" {
		h, p, err := net.SplitHostPort(a.hop.Smarthost)
		if err != nil {
			return nil, err
		}
		hosts, port = []mxHost{{Name: h}}, p
	} else {
		var err error
		if useDANE {
			hosts, mxSecure, err = r.lookupMXSecure(ctx, a.hop.Domain)
		} else {
			hosts, err = lookupMX(ctx, r.res, a.hop.Domain, r.set.MaxMX, nil)
		}
		if err != nil {
			return nil, err
		}
		if a.sts != nil {
			var stsErr error
			_, listed, stsErr = stsHosts(a.hop.Domain, a.sts, hosts)
			if n := countTrue(listed); n < len(hosts) {
				r.stats.stsFailure(string(a.sts.Mode))
				if a.sts.Mode == mtasts.Testing {
					// Enforce would skip them; testing delivers (to any).
					a.waive("sts-mx", fmt.Sprintf("MX hosts %s not all in the MTA-STS policy (testing mode: delivered anyway; it allows mx %s)",
						strings.Join(hostNames(hosts), ", "), strings.Join(a.sts.MX, ", ")))
				}
				r.log.Warn("MTA-STS: MX host not in the policy", "domain", a.hop.Domain, "mode", string(a.sts.Mode),
					"policy_mx", strings.Join(a.sts.MX, ","), "mx", strings.Join(hostNames(hosts), ","))
			}
			if stsErr != nil && !(useDANE && mxSecure) {
				// No host is allowed, and none can be by DANE.
				r.reportPolicyFailure(a, "sts", "validation-failure", "", strings.Join(hostNames(hosts), ","), "no MX host is listed in the policy")
				return nil, stsErr
			}
		}
	}
	var last error
	tried, skipped := 0, 0
	enforce := a.sts != nil && a.sts.Mode == mtasts.Enforce
	for i, h := range hosts {
		if enforce && !listed[i] && !(useDANE && mxSecure) {
			skipped++
			continue // RFC 8461 §4.1: not a host the policy allows
		}
		var addrs []string
		var dh *daneHost
		var err error
		if useDANE {
			var addrSecure bool
			var expanded string
			addrs, addrSecure, expanded, err = r.lookupAddrsSecure(ctx, h.Name)
			if err == nil && mxSecure && addrSecure {
				dh, err = r.lookupTLSA(ctx, a.hop.Domain, h.Name, expanded, h.Implicit)
				if err != nil {
					// RFC 7672 §2.2: the host is unusable; the next one
					// may do.
					tried++
					r.stats.session("dane", "dnssec-invalid")
					r.reportPolicyFailure(a, "tlsa", "dnssec-invalid", h.Name, "", err.Error())
					last = &hostError{Host: h.Name, Err: &stepError{Step: stepDNS, Err: err, Conn: true}, Level: "dane", Setting: "DANE"}
					continue
				}
			}
		} else {
			addrs, err = lookupAddrs(ctx, r.res, h.Name, r.set.MaxAddrs)
		}
		if err != nil {
			if h.Implicit && dnsresolve.IsNotFound(err) {
				// No MX and no address: the domain cannot get mail.
				return nil, &dnsError{Domain: a.hop.Domain, Permanent: true, Err: err}
			}
			last = &hostError{Host: h.Name, Err: &stepError{Step: stepDNS, Err: err, Conn: !dnsresolve.IsNotFound(err)}}
			continue
		}
		if dh == nil && enforce && !listed[i] {
			skipped++
			continue // RFC 8461 §4.1: not a host the policy allows; no DANE
		}
		tried++
		if len(addrs) == 0 {
			last = &hostError{Host: h.Name, Err: &stepError{Step: stepDNS, Err: errors.New("no address")}}
			continue
		}
		ah := a.forHost(dh)
		for _, ip := range addrs {
			c, err := r.open(ctx, ah, h.Name, ip, port)
			if err == nil {
				return c, nil
			}
			last = &hostError{Host: h.Name, IP: ip, Err: err}
			if dh != nil {
				last = &hostError{Host: h.Name, IP: ip, Err: err, Level: ah.level, Setting: ah.setting, DANE: dh}
			}
			if ctx.Err() != nil {
				return nil, last
			}
			var se *stepError
			if errors.As(err, &se) && se.Step == stepAuth {
				return nil, last // the same login fails everywhere
			}
		}
	}
	if tried == 0 && skipped > 0 {
		// Every host MTA-STS enforce allows is gone, and DANE applied to
		// none of the others.
		r.reportPolicyFailure(a, "sts", "validation-failure", "", strings.Join(hostNames(hosts), ","), "no MX host is listed in the policy")
		return nil, &stsError{Domain: a.hop.Domain, MX: a.sts.MX, Hosts: hostNames(hosts)}
	}
	if last == nil {
		last = &hostError{Host: a.hop.Domain, Err: errors.New("no host to try")}
	}
	return nil, last
}

// forHost is a's copy for a host DANE applies to (nil: a itself): TLS at
// level "dane", chosen by the host's TLSA records. REQUIRETLS keeps its
// need for authentication: with no usable record, the certificate must
// then verify as with verify.
func (a *attempt) forHost(dh *daneHost) *attempt {
	if dh == nil {
		return a
	}
	c := *a
	c.dane = dh
	c.pkix = a.level == "verify" && a.setting == "REQUIRETLS"
	c.level, c.setting = "dane", "DANE"
	return &c
}

// open connects to one address and runs greeting, EHLO, STARTTLS (by the
// level) and AUTH (for a smarthost with relay.credentials).
func (r *Relay) open(ctx context.Context, a *attempt, host, ip, port string) (*conn, error) {
	c, err := r.session(ctx, a, host, ip, port, false)
	var se *stepError
	if err != nil && a.level == "may" && errors.As(err, &se) && se.Step == stepSTARTTLS && se.Reply == nil {
		// RFC 7435 §4 / Postfix's may: a failed handshake is retried in
		// the clear; said in the log, a metric and the next deferral.
		r.stats.downgrade()
		r.log.Warn("TLS downgrade: STARTTLS failed, retrying in the clear (relay.tls = may)",
			"queue_id", a.m.ID, "host", host, "ip", ip, "err", se.Err.Error(), "setting", a.setting)
		c, err = r.session(ctx, a, host, ip, port, true)
		if err == nil {
			c.downgraded = se.Err.Error()
		}
	}
	return c, err
}

func (r *Relay) session(ctx context.Context, a *attempt, host, ip, port string, plain bool) (*conn, error) {
	d := net.Dialer{Timeout: r.set.ConnTimeout.Duration}
	nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip, port))
	if err != nil {
		return nil, &stepError{Step: stepConnect, Err: err, Conn: true}
	}
	r.stats.connection()
	c := newConn(nc, host, ip, port)
	local := ""
	if la, ok := nc.LocalAddr().(*net.TCPAddr); ok {
		local = la.IP.String()
	}
	stop := c.watch(ctx)
	defer stop()
	timeout := r.set.GreetTimeout.Duration
	var matched dane.Record
	tlsConfig := func() *tls.Config {
		if a.dane != nil {
			return r.daneTLSConfig(a.dane, a.pkix, &matched)
		}
		return r.tlsConfig(a.level, host)
	}
	if a.hop.Smarthost != "" && a.hop.Implicit {
		if err := c.handshake(ctx, timeout, tlsConfig()); err != nil {
			c.close()
			return nil, err
		}
	}
	if err := c.greet(timeout, r.helo); err != nil {
		c.close()
		return nil, err
	}
	if c.tls == nil && a.level != "none" && !plain {
		if c.has("STARTTLS") {
			if err := c.startTLS(ctx, timeout, tlsConfig(), r.helo); err != nil {
				c.close()
				r.reportSession(a, c, local, err)
				return nil, err
			}
		} else {
			err := &stepError{Step: stepSTARTTLS, Conn: true, Err: &noSTARTTLSError{Level: a.level, Setting: a.setting}}
			r.reportSession(a, c, local, err)
			if a.level != "may" {
				c.quit()
				return nil, err
			}
		}
		if c.tls != nil {
			r.reportSession(a, c, local, nil)
		}
	}
	if a.dane != nil && c.tls != nil {
		c.policy, c.daneLevel = daneResult(a.dane, matched), true
	} else {
		c.policy = r.policyNote(a, c)
	}
	if a.sts != nil && a.sts.Mode == mtasts.Testing && a.dane == nil {
		if why := r.stsTestingCheck(a, c); why != "" {
			c.policy += "; MTA-STS enforce would have refused this host (" + why + "): testing mode, delivered anyway"
		}
	}
	// The waivers of the way here (this session's); the message's own
	// plan's are added per message (policyFor): a reused session must not
	// repeat those of the attempt that opened it.
	for _, k := range connectWaivers {
		if v := a.waived[k]; v != "" {
			if c.waived == nil {
				c.waived = map[string]string{}
			}
			c.waived[k] = v
		}
	}
	c.stsID = a.stsID()
	if a.hop.Smarthost != "" && !a.hop.Delivery && r.set.Credentials != "" {
		user, pass, err := r.credentials()
		if err != nil {
			c.quit()
			return nil, err
		}
		if c.tls == nil {
			c.quit()
			return nil, &stepError{Step: stepAuth, Err: errors.New("refusing to send the password without TLS (the session is not encrypted)")}
		}
		if err := c.auth(timeout, user, pass); err != nil {
			c.quit()
			return nil, err
		}
	}
	return c, nil
}

// noSTARTTLSError: the server offers no STARTTLS.
type noSTARTTLSError struct{ Level, Setting string }

func (e *noSTARTTLSError) Error() string {
	if e.Level == "may" {
		return "the server does not offer STARTTLS"
	}
	if e.Setting == "DANE" {
		return "the server does not offer STARTTLS and its TLSA records require TLS (RFC 7672 §2.2)"
	}
	return fmt.Sprintf("the server does not offer STARTTLS and TLS is required (%s: %s)", e.Setting, e.Level)
}

// policyNote says which TLS policy a session with c met, for the log,
// explain and DSNs: DANE is said by daneResult; here MTA-STS, REQUIRETLS,
// the admin's level, or opportunistic TLS.
func (r *Relay) policyNote(a *attempt, c *conn) string {
	switch {
	case a.sts != nil && a.sts.Mode == mtasts.Enforce && a.setting == "MTA-STS":
		return fmt.Sprintf("MTA-STS (mode enforce, policy id %s): certificate verified for %s, a host the policy lists", a.sts.ID, c.host)
	case a.setting == "REQUIRETLS":
		return "REQUIRETLS: certificate verified for " + c.host
	case a.sts != nil && a.sts.Mode == mtasts.Testing:
		return fmt.Sprintf("MTA-STS (mode testing, policy id %s); %s", a.sts.ID, levelNote(a, c))
	}
	return levelNote(a, c)
}

func levelNote(a *attempt, c *conn) string {
	switch {
	case a.level == "verify":
		return fmt.Sprintf("%s = verify: certificate verified for %s", a.setting, c.host)
	case a.level == "encrypt":
		return fmt.Sprintf("%s = encrypt: TLS required, certificate not checked", a.setting)
	case c.tls != nil:
		return fmt.Sprintf("opportunistic TLS (%s = %s), certificate not checked", a.setting, a.level)
	case a.level == "none":
		return fmt.Sprintf("no TLS (%s = none)", a.setting)
	case c.downgraded != "":
		return fmt.Sprintf("opportunistic TLS (%s = may): STARTTLS failed, sent in the clear", a.setting)
	}
	return fmt.Sprintf("opportunistic TLS (%s = may): not offered, sent in the clear", a.setting)
}

// credentials reads relay.credentials (user:password on the first line)
// at each new session, so that a changed file needs no restart.
func (r *Relay) credentials() (user, pass string, err error) {
	path := r.set.Credentials
	f, err := os.Open(path)
	if err != nil {
		return "", "", diag.PathError(Component, "open", "read the smarthost credentials", path, err, r.cfg.Setting("relay.credentials"))
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	line := strings.TrimRight(sc.Text(), "\r")
	user, pass, ok := strings.Cut(line, ":")
	if !ok || user == "" {
		d := diag.New("parse", "read the smarthost credentials from", path, errors.New("the first line is not user:password"))
		d.Component, d.Setting = Component, r.cfg.Setting("relay.credentials")
		d.Hint = "write the login as one line user:password, mode 0600, owned by server.user"
		return "", "", d
	}
	return user, pass, nil
}

// stsTestingCheck reports what MTA-STS enforce would have refused on c,
// for a policy in testing mode (RFC 8461 §5: deliver, but report): no
// TLS, or a certificate that does not verify for the MX name. It logs and
// counts it, and returns why for the session's policy note ("" if none).
func (r *Relay) stsTestingCheck(a *attempt, c *conn) string {
	why := ""
	switch {
	case c.tls == nil:
		why = "no TLS session"
	case len(c.tls.PeerCertificates) == 0:
		why = "no certificate"
	default:
		inter := x509.NewCertPool()
		for _, ic := range c.tls.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		if _, err := c.tls.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: c.host, Roots: r.roots, Intermediates: inter}); err != nil {
			why = err.Error()
		}
	}
	if why != "" {
		r.stats.stsFailure(string(mtasts.Testing))
		r.log.Warn("MTA-STS (testing): enforce would refuse this MX; delivering anyway", "domain", a.hop.Domain,
			"host", c.host, "ip", c.ip, "why", why)
	}
	return why
}
