package relay

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/mtasts"
)

// hostError is a failure of one host or address, kept for the report when
// every host failed.
type hostError struct {
	Host, IP string
	Err      error
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
func (r *Relay) connect(ctx context.Context, a *attempt) (*conn, error) {
	var hosts []mxHost
	port := fmt.Sprint(r.set.Port)
	if a.hop.Smarthost != "" {
		h, p, err := net.SplitHostPort(a.hop.Smarthost)
		if err != nil {
			return nil, err
		}
		hosts, port = []mxHost{{Name: h}}, p
	} else {
		var err error
		hosts, err = lookupMX(ctx, r.res, a.hop.Domain, r.set.MaxMX, nil)
		if err != nil {
			return nil, err
		}
		if a.sts != nil {
			use, listed, err := stsHosts(a.hop.Domain, a.sts, hosts)
			if n := countTrue(listed); n < len(hosts) {
				r.stats.stsFailure(string(a.sts.Mode))
				r.log.Warn("MTA-STS: MX host not in the policy", "domain", a.hop.Domain, "mode", string(a.sts.Mode),
					"policy_mx", strings.Join(a.sts.MX, ","), "mx", strings.Join(hostNames(hosts), ","))
			}
			if err != nil {
				return nil, err
			}
			hosts = use
		}
	}
	var last error
	for _, h := range hosts {
		addrs, err := lookupAddrs(ctx, r.res, h.Name, r.set.MaxAddrs)
		if err != nil {
			if h.Implicit && dnsresolve.IsNotFound(err) {
				// No MX and no address: the domain cannot get mail.
				return nil, &dnsError{Domain: a.hop.Domain, Permanent: true, Err: err}
			}
			last = &hostError{Host: h.Name, Err: &stepError{Step: stepDNS, Err: err, Conn: !dnsresolve.IsNotFound(err)}}
			continue
		}
		if len(addrs) == 0 {
			last = &hostError{Host: h.Name, Err: &stepError{Step: stepDNS, Err: errors.New("no address")}}
			continue
		}
		for _, ip := range addrs {
			c, err := r.open(ctx, a, h.Name, ip, port)
			if err == nil {
				return c, nil
			}
			last = &hostError{Host: h.Name, IP: ip, Err: err}
			if ctx.Err() != nil {
				return nil, last
			}
			var se *stepError
			if errors.As(err, &se) && se.Step == stepAuth {
				return nil, last // the same login fails everywhere
			}
		}
	}
	if last == nil {
		last = &hostError{Host: a.hop.Domain, Err: errors.New("no host to try")}
	}
	return nil, last
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
	stop := c.watch(ctx)
	defer stop()
	timeout := r.set.GreetTimeout.Duration
	if a.hop.Smarthost != "" && a.hop.Implicit {
		if err := c.handshake(ctx, timeout, r.tlsConfig(a.level, host)); err != nil {
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
			if err := c.startTLS(ctx, timeout, r.tlsConfig(a.level, host), r.helo); err != nil {
				c.close()
				return nil, err
			}
		} else if a.level != "may" {
			c.quit()
			return nil, &stepError{Step: stepSTARTTLS, Conn: true,
				Err: fmt.Errorf("the server does not offer STARTTLS and TLS is required (%s: %s)", a.setting, a.level)}
		}
	}
	if a.sts != nil && a.sts.Mode == mtasts.Testing {
		r.stsTestingCheck(a, c)
	}
	if a.hop.Smarthost != "" && r.set.Credentials != "" {
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
// TLS, or a certificate that does not verify for the MX name.
func (r *Relay) stsTestingCheck(a *attempt, c *conn) {
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
}
