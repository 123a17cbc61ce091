// Package relay is the queue's remote transport: it delivers a queued
// message to a recipient on another host, by MX (RFC 5321 §5.1) or
// through a smarthost, under a TLS policy (none, may, encrypt, verify;
// MTA-STS RFC 8461; REQUIRETLS RFC 8689), with a total and a
// per-destination connection limit, sessions reused across messages to
// one destination (RSET between), PIPELINING (RFC 2920) and dead
// destinations (after relay.dead_after connection failures in a row the
// destination is suspended for relay.dead_interval).
//
// Every outcome is per recipient. A 2xx is delivered (logged with host,
// IP, TLS version and cipher and the remote's reply); a 4xx or a failure
// to connect is a temporary *diag.Error, a 5xx a permanent one, each with
// diag.Remote holding the remote's whole reply and the step it came at,
// beside our own diagnosis:
//
//	r, err := relay.New(cfg, relay.Options{Resolver: dnsresolve.New(cfg), Log: log})
//	q.Run(ctx, queue.Transports{Local: local, Remote: r})
//	// mailq: "cannot deliver to bob@example.net: mx.example.net[192.0.2.1]
//	//         said at RCPT: 451 4.7.1 greylisted"
//
// Principle 7: a TLS downgrade (a failed handshake retried in the clear,
// only at level may) is counted in a metric, logged, and named in the
// reason of the recipient's next deferral.
package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/envaddr"
	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/mtasts"
	"github.com/ebbmail/ebb/internal/queue"
)

// Component names the relay in diag errors.
const Component = "ebb relay"

// STSPolicies gives a domain's MTA-STS policy (nil, nil when it has
// none); internal/mtasts's Cache is one.
type STSPolicies interface {
	Get(ctx context.Context, domain string) (*mtasts.Policy, error)
}

// Options are the relay's collaborators.
type Options struct {
	Resolver *net.Resolver // nil: the system's
	Log      *slog.Logger
	// STS, when set, applies MTA-STS to MX delivery.
	STS STSPolicies
	// Sign returns header lines (CRLF) written first, before the queue's
	// prefix: DKIM-Signature; or, for none, why a message of ours leaves
	// unsigned (unsigned, said in each recipient's handoff: ebb explain).
	// Called once per message (cached by queue id); nil signs nothing.
	Sign func(ctx context.Context, m *queue.Message) (header, unsigned string, err error)
	// Hostname is the EHLO name when relay.helo_name is empty.
	Hostname string
	// Secure, when set, is a resolver whose AD bit is trusted (dns.dnssec):
	// MX delivery then applies DANE (dane.enable, RFC 7672). nil: no DANE.
	Secure SecureResolver
	// TLSReport, when set, gets the outcome of every TLS session with an
	// MX host and of every policy that could not be applied (TLS-RPT,
	// RFC 8460). Called from delivery goroutines: it must be quick.
	TLSReport func(TLSResult)
	// Hosted reports whether a domain is hosted here: with
	// mail.delivery_host set, its mail goes to that host (the daemon
	// routes hosted recipients to the relay then). nil: none is.
	Hosted func(ctx context.Context, domain string) (bool, error)
}

// Relay delivers to remote recipients. It is a queue.Transport and safe
// for concurrent use.
type Relay struct {
	cfg    *config.Config
	set    config.Relay
	helo   string
	router router
	policy map[string]string // relay.tls_policy
	exempt map[string]string // mta_sts.exempt (domain → itself)
	// daneExempt is dane.exempt (domain → itself).
	daneExempt map[string]string
	secure     SecureResolver // nil: no DANE
	report     func(TLSResult)
	roots      *x509.CertPool // nil: the system's
	res        *net.Resolver
	log        *slog.Logger
	sts        STSPolicies
	sign       func(ctx context.Context, m *queue.Message) (header, unsigned string, err error)
	hosted     func(ctx context.Context, domain string) (bool, error)
	now        func() time.Time
	total      chan struct{}
	stats      *Metrics

	mu    sync.Mutex
	dests map[string]*destination
	signs map[string]signed
}

type signed struct {
	header, unsigned string
	at               time.Time
}

// New makes a relay from cfg's relay section.
func New(cfg *config.Config, o Options) (*Relay, error) {
	set := cfg.Relay
	routes, err := set.ParseRoutes()
	if err != nil {
		return nil, err
	}
	policy, err := set.ParseTLSPolicy()
	if err != nil {
		return nil, err
	}
	exempt := map[string]string{}
	for _, d := range cfg.MTASTS.Exempt {
		if d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), ".")); d != "" {
			exempt[d] = d
		}
	}
	daneExempt := map[string]string{}
	for _, d := range cfg.DANE.Exempt {
		if d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), ".")); d != "" {
			daneExempt[d] = d
		}
	}
	r := &Relay{
		cfg: cfg, set: set, policy: policy, exempt: exempt, daneExempt: daneExempt, report: o.TLSReport,
		router: router{smarthost: set.Smarthost, implicit: set.SmarthostTLS == "implicit", routes: routes},
		res:    o.Resolver, log: o.Log, sts: o.STS, sign: o.Sign, hosted: o.Hosted, now: time.Now,
		total: make(chan struct{}, max(set.MaxConn, 1)),
		stats: NewMetrics(),
		dests: map[string]*destination{}, signs: map[string]signed{},
	}
	if r.res == nil {
		r.res = net.DefaultResolver
	}
	if cfg.DANE.Enable && o.Secure != nil {
		r.secure = o.Secure
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.helo = set.HeloName
	if r.helo == "" {
		r.helo = o.Hostname
	}
	if r.helo == "" {
		r.helo, _ = os.Hostname()
	}
	if set.TLSCAFile != "" {
		pem, err := os.ReadFile(set.TLSCAFile)
		if err != nil {
			d := diag.PathError(Component, "open", "read the CA file", set.TLSCAFile, err, cfg.Setting("relay.tls_ca_file"))
			d.Exit = diag.ExConfig
			return nil, d
		}
		r.roots = x509.NewCertPool()
		if !r.roots.AppendCertsFromPEM(pem) {
			d := diag.New("parse", "read CA certificates from", set.TLSCAFile, errors.New("no PEM certificate in it"))
			d.Component, d.Setting, d.Exit = Component, cfg.Setting("relay.tls_ca_file"), diag.ExConfig
			d.Class = diag.Permanent
			return nil, d
		}
	}
	return r, nil
}

// Metrics are the relay's counters, for the daemon's registry.
func (r *Relay) Metrics() *Metrics { return r.stats }

// Close ends the idle sessions.
func (r *Relay) Close() {
	r.mu.Lock()
	ds := make([]*destination, 0, len(r.dests))
	for _, d := range r.dests {
		ds = append(ds, d)
	}
	r.mu.Unlock()
	for _, d := range ds {
		d.closeIdle()
	}
}

// Resume lifts the suspension of the destinations of domain (and of a
// smarthost named so; "" for all) so that the next attempt tries at once
// (ebb queue flush [--domain]). It reports how many were suspended.
func (r *Relay) Resume(domain string) int {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for key, d := range r.dests {
		name, _, _ := strings.Cut(key, "|")
		if domain == "" || name == domain || name == "["+domain+"]" || strings.HasPrefix(name, "["+domain+":") {
			if d.resume() {
				n++
			}
		}
	}
	return n
}

func (r *Relay) dest(name, level string) *destination {
	key := name + "|" + level
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.dests[key]
	if d == nil {
		d = newDestination(key, name, r.set.MaxPerDest)
		r.dests[key] = d
	}
	return d
}

// tlsLevel is the level for a recipient domain and the setting that chose it.
func (r *Relay) tlsLevel(domain string) (string, string) {
	if v, ok := longestMatch(domain, r.policy); ok {
		return v, "relay.tls_policy"
	}
	return r.set.TLS, "relay.tls"
}

// attempt is one delivery of a message to the recipients of one
// destination.
type attempt struct {
	m       *queue.Message
	rc      *queue.Recipient   // the recipient an error is about
	rcpts   []*queue.Recipient // all of this destination
	hop     hop
	level   string // none, may, encrypt, verify
	setting string // what chose the level
	sts     *mtasts.Policy
	// stsErr is why no MTA-STS policy could be had (delivery goes on
	// without one, RFC 8461 §5.1); Plan reports it.
	stsErr error
	header string // Sign's lines
	// unsigned: why the message leaves without a signature of ours
	// (Sign's), for the handoff.
	unsigned string
	// dane: the host's TLSA records, in the copy of the attempt for a
	// host DANE applies to (forHost); level is then "dane". pkix: the
	// sender's REQUIRETLS still asks for a certificate that verifies when
	// no TLSA record is usable.
	dane *daneHost
	pkix bool
	// waived: what was not applied of what the domain publishes (an
	// mta_sts.exempt or dane.exempt entry, an MX an MTA-STS policy in
	// testing mode does not list), one clause each, keyed so that a
	// second connect does not say it twice. Besides the log line and
	// the metric, said in the session's policy note (the handoff: ebb
	// explain, mailq, success DSNs): principle 7.
	waived map[string]string
}

// waive keeps what was not applied (attempt.waived) under key.
func (a *attempt) waive(key, clause string) {
	if a.waived == nil {
		a.waived = map[string]string{}
	}
	a.waived[key] = clause
}

// connectWaivers are the keys of attempt.waived set while a session is
// opened (connect): the session keeps them (conn.waived); the others come
// from the message's plan.
var connectWaivers = []string{"dane.exempt", "sts-mx"}

// policyFor is the policy note of the session c for a message of attempt
// a: the session's own, then what was not applied of what the domain
// publishes (in a fixed order): a's plan's (mta_sts.exempt, an MTA-STS
// policy unavailable), and the session's way here (dane.exempt; the MX
// not in a testing MTA-STS policy: a session is reused only under the
// same policy, reuse). A reused session says each message's own, not
// those of the message that opened it.
func (c *conn) policyFor(a *attempt) string {
	s := c.policy
	for _, k := range []string{"mta_sts.exempt", "sts-unavailable", "dane.exempt", "sts-mx"} {
		v := a.waived[k]
		if v == "" {
			v = c.waived[k]
		}
		if v != "" {
			s += "; " + v
		}
	}
	return s
}

// stsID is the id of a's MTA-STS policy, "" without one.
func (a *attempt) stsID() string {
	if a.sts == nil {
		return ""
	}
	return a.sts.ID
}

// forRcpt is a's copy about one recipient, for its own error.
func (a *attempt) forRcpt(rc *queue.Recipient) *attempt {
	c := *a
	c.rc = rc
	return &c
}

// maxRcptsPerTxn bounds the RCPTs of one transaction (Postfix's
// default_destination_recipient_limit; RFC 5321 §4.5.3.1.8 asks servers
// to take at least 100).
const maxRcptsPerTxn = 50

// Deliver sends m to one remote recipient. See the package comment for
// what the error holds.
func (r *Relay) Deliver(ctx context.Context, m *queue.Message, rc *queue.Recipient) error {
	return r.DeliverBatch(ctx, m, []*queue.Recipient{rc})[0]
}

// DeliverBatch sends m to several remote recipients (queue.BatchTransport):
// those of one destination share a session and go in transactions of up
// to 50 RCPTs, the data sent once per transaction (RFC 5321 §3.3);
// destinations are served at the same time. errs[i] is rcpts[i]'s result.
func (r *Relay) DeliverBatch(ctx context.Context, m *queue.Message, rcpts []*queue.Recipient) []error {
	errs := make([]error, len(rcpts))
	type group struct {
		a   *attempt
		idx []int
	}
	var groups []*group
	byKey := map[string]*group{}
	for i, rc := range rcpts {
		a, err := r.plan(ctx, m, rc)
		if err != nil {
			errs[i] = err
			continue
		}
		key := a.hop.key() + "|" + a.level
		g := byKey[key]
		if g == nil {
			g = &group{a: a}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.a.rcpts = append(g.a.rcpts, rc)
		g.idx = append(g.idx, i)
	}
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j, e := range r.deliverGroup(ctx, g.a) {
				errs[g.idx[j]] = e
			}
		}()
	}
	wg.Wait()
	return errs
}

// plan chooses the hop and the TLS level for one recipient.
func (r *Relay) plan(ctx context.Context, m *queue.Message, rc *queue.Recipient) (*attempt, error) {
	_, domain, ok := envaddr.Split(rc.Address)
	domain = strings.ToLower(domain)
	if !ok {
		d := r.newErr(rc, "route", fmt.Sprintf("%q has no domain to deliver to", rc.Address), diag.Permanent)
		d.SMTPCode, d.Enhanced = 550, [3]int{5, 1, 3}
		return nil, d
	}
	a := &attempt{m: m, rc: rc, hop: r.router.route(domain)}
	if h := r.cfg.Mail.DeliveryHost; h != "" && r.hosted != nil {
		// The one delivery host stores hosted mailboxes (docs/scaling.md):
		// whatever relay.routes or relay.smarthost say for the domain.
		local, err := r.hosted(ctx, domain)
		if err != nil {
			return nil, err
		}
		if local {
			a.hop = hop{Smarthost: h, Domain: domain, Setting: "mail.delivery_host", Delivery: true}
		}
	}
	a.level, a.setting = r.tlsLevel(a.hop.Domain)
	if a.hop.Smarthost != "" && !a.hop.Delivery && a.level == "may" && a.setting == "relay.tls" {
		// relay.smarthost_tls's promise: STARTTLS (or implicit TLS) is
		// required toward a smarthost unless relay.tls is none (or a
		// relay.tls_policy entry says may for the domain): the login and
		// every message pass there, so no clear-text fallback.
		a.level, a.setting = "encrypt", "relay.smarthost_tls"
	}
	if m.Envelope.RequireTLS {
		// RFC 8689 §4.2.1: a verified TLS session to a server that
		// offers REQUIRETLS, or no delivery.
		a.level, a.setting = "verify", "REQUIRETLS"
	}
	if d, ok := longestMatch(a.hop.Domain, r.exempt); ok && a.hop.Smarthost == "" && r.sts != nil {
		// The admin chose to deliver as if the domain published no
		// policy (a hint of ours says when): said every time.
		r.stats.stsExempted()
		a.waive("mta_sts.exempt", fmt.Sprintf("MTA-STS policy of %s not applied (mta_sts.exempt lists %s)", a.hop.Domain, d))
		r.log.Warn("MTA-STS: policy not applied, the domain is exempt", "queue_id", m.ID, "domain", a.hop.Domain,
			"exempt", d, "setting", "mta_sts.exempt", "tls_level", a.level)
	} else if a.hop.Smarthost == "" && r.sts != nil {
		pol, err := r.sts.Get(ctx, a.hop.Domain)
		if err != nil {
			// RFC 8461 §5.1 (no usable policy): deliver as without one.
			r.log.Warn("MTA-STS policy unavailable; delivering without it", "domain", a.hop.Domain, "err", err)
			a.stsErr = err
			a.waive("sts-unavailable", fmt.Sprintf("MTA-STS policy of %s unavailable (%v): delivered as without one (RFC 8461 §5.1)", a.hop.Domain, err))
		}
		if pol != nil && pol.Mode != mtasts.None {
			a.sts = pol
			if pol.Mode == mtasts.Enforce {
				a.level, a.setting = "verify", "MTA-STS"
			}
		}
	}
	return a, nil
}

// deliverGroup delivers to a.rcpts, all of one destination.
func (r *Relay) deliverGroup(ctx context.Context, a *attempt) []error {
	start := r.now()
	m := a.m
	results := make([]error, len(a.rcpts))
	// each gives every recipient still undecided its own error (the
	// queue changes a recipient's error in place, so none is shared).
	each := func(idx []int, mk func(ai *attempt) error) []error {
		for _, i := range idx {
			results[i] = mk(a.forRcpt(a.rcpts[i]))
		}
		return results
	}
	pending := make([]int, len(a.rcpts))
	for i := range pending {
		pending[i] = i
	}
	if a.stsErr != nil {
		r.reportPolicyFailure(a, "sts", stsFetchResult(a.stsErr), "", "", a.stsErr.Error())
	}
	dst := r.dest(a.hop.key(), a.level)
	if err := dst.acquire(ctx, r.set.DeadAfter, r.now); err != nil {
		return each(pending, func(ai *attempt) error { return r.suspended(ai, err) })
	}
	defer dst.release()
	select {
	case r.total <- struct{}{}:
	case <-ctx.Done():
		return each(pending, func(ai *attempt) error {
			return r.newErr(ai.rc, "wait", "waited for a free connection slot (relay.max_connections) until the attempt ended", diag.Temporary)
		})
	}
	defer func() { <-r.total }()

	f, err := m.OpenData()
	if err != nil {
		return each(pending, func(*attempt) error {
			return diag.PathError(Component, "open", "open the message to relay", m.File, err, r.cfg.Setting("queue.spool"))
		})
	}
	defer f.Close()
	if r.sign != nil {
		h, unsigned, err := r.signedHeader(ctx, m)
		if err != nil {
			return each(pending, func(*attempt) error {
				d := diag.From(err, Component, "sign")
				c := *d
				c.Class = diag.Temporary // our own trouble
				return &c
			})
		}
		a.header, a.unsigned = h, unsigned
	}

	reused, retried := true, false
	c := r.reuse(dst, a)
	for len(pending) > 0 {
		if c == nil {
			reused = false
			c, err = r.connect(ctx, a)
			if err != nil {
				first := true
				return each(pending, func(ai *attempt) error {
					e := r.connFailure(ai, dst, err, first)
					first = false
					return e
				})
			}
			if dst.connOK(r.set.DeadAfter) {
				r.log.Info("destination is back", "destination", dst.name, "host", c.name())
			}
		}
		if err := r.checkCaps(a, c, f); err != nil {
			each(pending, func(ai *attempt) error { return r.checkCaps(ai, c, f) })
			r.finish(dst, c)
			return results
		}
		var batch []int
		var rest []int
		for _, i := range pending {
			if len(batch) >= maxRcptsPerTxn {
				rest = append(rest, i)
				continue
			}
			if err := r.checkRcpt(a.forRcpt(a.rcpts[i]), c); err != nil {
				results[i] = err
				continue
			}
			batch = append(batch, i)
		}
		if len(batch) == 0 {
			pending = rest
			continue
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			c.close()
			return each(pending, func(*attempt) error {
				return diag.PathError(Component, "seek", "read the message to relay", m.File, err, r.cfg.Setting("queue.spool"))
			})
		}
		stop := c.watch(ctx)
		refused, fr, whole := c.transact(r.set.CmdTimeout.Duration, r.set.DataTimeout.Duration, r.txn(a, c, f, batch))
		stop()
		var se *stepError
		var ne net.Error
		if whole != nil && reused && !retried && errors.As(whole, &se) &&
			(se.Stale || se.Reply == nil && se.Step == stepMail && !(errors.As(whole, &ne) && ne.Timeout())) {
			// A cached session the server had closed: try a fresh one.
			c.close()
			c, retried = nil, true
			continue
		}
		accepted := 0
		for _, e := range refused {
			if e == nil {
				accepted++
			}
		}
		var again []int
		for j, i := range batch {
			ai := a.forRcpt(a.rcpts[i])
			switch {
			case refused[j] != nil:
				if tooManyRcpts(refused[j]) && accepted > 0 && whole == nil {
					// RFC 5321 §4.5.3.1.10: the rest go in the next
					// transaction.
					again = append(again, i)
					continue
				}
				results[i] = r.failure(ai, c, refused[j], ctx)
			case whole != nil:
				results[i] = r.failure(ai, c, whole, ctx)
			default:
				ai.rc.Relay = &queue.Handoff{Host: c.host, IP: c.ip, DSN: c.has("DSN"), Reply: fr.String(),
					TLS: c.tlsSummary(), Policy: c.policyFor(a), Unsigned: a.unsigned}
				r.stats.delivered(c.tls != nil)
				r.log.Info("relayed", "queue_id", m.ID, "rcpt", ai.rc.Address, "host", c.host, "ip", c.ip,
					"tls", c.tlsSummary(), "tls_level", c.level(a), "tls_policy", ai.rc.Relay.Policy, "reused", reused, "rcpts", accepted, "remote_id", RemoteID(fr.Text),
					"reply", fr.String(), "duration", r.now().Sub(start).Round(time.Millisecond))
			}
		}
		pending = append(again, rest...)
		reused = true
		if c.broken && len(pending) > 0 {
			c.close()
			c = nil
		}
	}
	if c != nil {
		r.finish(dst, c)
	}
	return results
}

// tooManyRcpts is a 452 4.5.3 at RCPT: this transaction is full.
func tooManyRcpts(err error) bool {
	var se *stepError
	return errors.As(err, &se) && se.Reply != nil && se.Reply.Code == 452 && (se.Reply.Enhanced == "4.5.3" || se.Reply.Enhanced == "")
}

// reuse returns an idle session of dst that answers RSET, or nil.
func (r *Relay) reuse(dst *destination, a *attempt) *conn {
	for {
		c := dst.takeIdle()
		if c == nil {
			return nil
		}
		// Opened under another MTA-STS policy (one became available,
		// unavailable or changed): its policy note would tell the other
		// one's, so a session of a's own is opened.
		if time.Since(c.opened) < r.set.ReuseLimit.Duration && c.stsID == a.stsID() {
			if c.has("PIPELINING") {
				c.rset = true // sent with the next transaction
				return c
			}
			// A cached session the server dropped silently must not
			// cost a whole command timeout (Postfix: smtp_rset_timeout).
			if err := c.reset(min(r.set.CmdTimeout.Duration, 20*time.Second)); err == nil {
				return c
			}
		}
		c.quit()
	}
}

// finish keeps a healthy session for the next message, or closes it.
func (r *Relay) finish(dst *destination, c *conn) {
	if c.broken || r.set.IdleTimeout.Duration <= 0 || time.Since(c.opened) >= r.set.ReuseLimit.Duration {
		c.quit()
		return
	}
	dst.putIdle(c, r.set.IdleTimeout.Duration)
}

// checkCaps refuses what this server would refuse anyway, before sending:
// a message over its SIZE (RFC 1870), one that needs SMTPUTF8 (a non-ASCII
// sender or header) to a server without it (RFC 6531 §3.4), REQUIRETLS to
// one without it (RFC 8689). The error is about a.rc.
func (r *Relay) checkCaps(a *attempt, c *conn, f *queue.Data) error {
	size := a.m.Size + int64(len(a.header)+len(a.m.Prefix()))
	if lim := c.maxSize(); lim > 0 && size > lim {
		d := r.remoteErr(a, c, stepMail, nil, fmt.Sprintf("the message is %d bytes and %s accepts at most %d (its SIZE)", size, c.name(), lim), diag.Permanent)
		d.SMTPCode, d.Enhanced = 552, [3]int{5, 3, 4}
		d.Hint = "the recipient's server refuses messages this large: send the file another way, or ask its postmaster to raise the limit"
		return d
	}
	if !c.has("SMTPUTF8") && (!isASCII(a.m.Envelope.From) || a.m.Envelope.SMTPUTF8 && !headerASCII(a.m.Prefix(), f)) {
		return r.utf8Err(a, c)
	}
	if !c.has("8BITMIME") && !(!a.m.Envelope.EightBit && isASCII(a.header) && isASCII(a.m.Prefix()) && fileASCII(f)) {
		// RFC 6152 §3: no 8-bit data to a server without 8BITMIME,
		// whether the sender declared BODY=8BITMIME or not (the queue
		// found the 8-bit bytes while spooling; a message queued before
		// it looked is read once here). ebb does not convert to 7 bits:
		// it returns the message, as §3 allows.
		declared := "declared BODY=8BITMIME"
		if !strings.EqualFold(a.m.Envelope.BodyType, "8BITMIME") {
			declared = "not declared by its sender, but there"
		}
		d := r.remoteErr(a, c, stepMail, nil, fmt.Sprintf("the message has 8-bit data (%s) and %s does not offer 8BITMIME (RFC 6152 §3)", declared, c.name()), diag.Permanent)
		d.SMTPCode, d.Enhanced = 554, [3]int{5, 6, 3}
		d.Public = "the recipient's server takes only 7-bit mail, and the message has 8-bit data"
		d.SetFix(diag.Because("the recipient's server takes only 7-bit mail",
			diag.Say("send the message again with a 7-bit transfer encoding (quoted-printable or base64; mail programs do this when told to)")))
		return d
	}
	if a.m.Envelope.RequireTLS && !c.has("REQUIRETLS") {
		d := r.remoteErr(a, c, stepMail, nil, fmt.Sprintf("the message asks for REQUIRETLS and %s does not offer it (RFC 8689 §4.2.1)", c.name()), diag.Permanent)
		d.SMTPCode, d.Enhanced = 550, [3]int{5, 7, 30}
		// RFC 8689 §4.2.1: no delivery without REQUIRETLS at the next
		// hop, and no setting of ours may lower it.
		d.SetFix(diag.Because("the recipient's server does not offer REQUIRETLS, which the sender asked for (RFC 8689): ebb does not send the message another way",
			diag.Say(fmt.Sprintf("nothing to change here: the message goes back to its sender; it can go to %s this way once %s's MX offers REQUIRETLS", a.hop.Domain, a.hop.Domain))))
		return d
	}
	return nil
}

// checkRcpt: a non-ASCII recipient address needs SMTPUTF8.
func (r *Relay) checkRcpt(a *attempt, c *conn) error {
	if !c.has("SMTPUTF8") && !isASCII(a.rc.Address) {
		return r.utf8Err(a, c)
	}
	return nil
}

func (r *Relay) utf8Err(a *attempt, c *conn) error {
	d := r.remoteErr(a, c, stepMail, nil, fmt.Sprintf("the message needs SMTPUTF8 (non-ASCII addresses or header) and %s does not offer it (RFC 6531 §3.4)", c.name()), diag.Permanent)
	d.SMTPCode, d.Enhanced = 553, [3]int{5, 6, 7}
	d.Hint = "the recipient's server cannot take internationalised mail: use ASCII addresses for this recipient"
	return d
}

// headerASCII reports whether the prefix and the header section of f are
// ASCII: a message flagged SMTPUTF8 whose addresses and header are ASCII
// can go to a server without SMTPUTF8 unchanged (as Postfix does).
func headerASCII(prefix string, f *queue.Data) bool {
	if !isASCII(prefix) {
		return false
	}
	defer f.Seek(0, io.SeekStart)
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, f.Size()), 16<<10)
	// The header section as every part of ebb reads it (mailhdr).
	s := mailhdr.NewScanner(br)
	for s.Scan() {
		fl := s.Field()
		var rest asciiWriter
		if !isASCII(string(fl.Raw)) || (s.CopyRest(&rest) == nil && rest.not) {
			return false
		}
	}
	return true // a read error shows when the message is sent
}

// asciiWriter notes whether anything written to it was not ASCII.
type asciiWriter struct{ not bool }

func (w *asciiWriter) Write(p []byte) (int, error) {
	w.not = w.not || !isASCII(string(p))
	return len(p), nil
}

// fileASCII reports whether the data f holds 7-bit bytes only (one pass,
// 64 KiB at a time, whatever the size; f stops at the data's end).
func fileASCII(f *queue.Data) bool {
	defer f.Seek(0, io.SeekStart)
	buf := make([]byte, 64<<10)
	for off := int64(0); ; {
		n, err := f.ReadAt(buf, off)
		for _, b := range buf[:n] {
			if b >= 0x80 {
				return false
			}
		}
		off += int64(n)
		if err != nil {
			return true
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// txn builds the transaction for the recipients batch (indexes into
// a.rcpts) on c: ESMTP parameters as c offers them.
func (r *Relay) txn(a *attempt, c *conn, f *queue.Data, batch []int) *txn {
	env := &a.m.Envelope
	var mail strings.Builder
	if c.has("SIZE") {
		fmt.Fprintf(&mail, " SIZE=%d", a.m.Size+int64(len(a.header)+len(a.m.Prefix())))
	}
	if (strings.EqualFold(env.BodyType, "8BITMIME") || env.EightBit) && c.has("8BITMIME") {
		// RFC 6152 §2: 8-bit data goes declared, also when its sender
		// did not declare it.
		mail.WriteString(" BODY=8BITMIME")
	}
	utf8 := env.SMTPUTF8 || !isASCII(env.From)
	for _, i := range batch {
		utf8 = utf8 || !isASCII(a.rcpts[i].Address)
	}
	if utf8 && c.has("SMTPUTF8") {
		mail.WriteString(" SMTPUTF8")
	}
	if env.RequireTLS && c.has("REQUIRETLS") {
		mail.WriteString(" REQUIRETLS")
	}
	dsn := c.has("DSN")
	if dsn {
		// RFC 3461 §4: pass the sender's DSN requests on.
		if env.Ret != "" {
			mail.WriteString(" RET=" + strings.ToUpper(env.Ret))
		}
		if env.EnvID != "" {
			mail.WriteString(" ENVID=" + xtext(env.EnvID))
		}
	}
	t := &txn{
		from: env.From, mailArgs: mail.String(),
		write: func(w io.Writer) error {
			if _, err := io.WriteString(w, a.header); err != nil {
				return err
			}
			if _, err := io.WriteString(w, a.m.Prefix()); err != nil {
				return err
			}
			_, err := io.Copy(w, f)
			return err
		},
	}
	for _, i := range batch {
		addr := a.rcpts[i].Address
		var args strings.Builder
		if dsn {
			p := env.DSNFor(addr)
			if len(p.Notify) > 0 {
				args.WriteString(" NOTIFY=" + strings.ToUpper(strings.Join(p.Notify, ",")))
			}
			if p.ORCPT != "" && isASCII(p.ORCPT) {
				typ := p.ORCPTType
				if typ == "" {
					typ = "rfc822"
				}
				args.WriteString(" ORCPT=" + typ + ";" + xtext(p.ORCPT))
			}
		}
		t.rcpts = append(t.rcpts, txnRcpt{addr: addr, args: args.String()})
	}
	return t
}

// xtext encodes s for ENVID and ORCPT (RFC 3461 §4).
func xtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < '!' || ch > '~' || ch == '+' || ch == '=' {
			fmt.Fprintf(&b, "+%02X", ch)
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}

// signedHeader calls Sign once per queue id; later recipients and
// destinations of the same message reuse its header.
func (r *Relay) signedHeader(ctx context.Context, m *queue.Message) (header, unsigned string, err error) {
	r.mu.Lock()
	s, ok := r.signs[m.ID]
	r.mu.Unlock()
	if ok {
		return s.header, s.unsigned, nil
	}
	h, unsigned, err := r.sign(ctx, m)
	if err != nil {
		return "", "", err
	}
	r.mu.Lock()
	now := r.now()
	if len(r.signs) > 4096 {
		for id, s := range r.signs {
			if now.Sub(s.at) > 10*time.Minute {
				delete(r.signs, id)
			}
		}
	}
	r.signs[m.ID] = signed{header: h, unsigned: unsigned, at: now}
	r.mu.Unlock()
	return h, unsigned, nil
}

var remoteIDPattern = regexp.MustCompile(`(?i)queued as ([A-Za-z0-9.\-_]+)`)

// RemoteID is the remote's queue id from a 250 reply, when it names one
// ("250 2.0.0 Ok: queued as X", as Postfix and ebb say it).
func RemoteID(text string) string {
	if m := remoteIDPattern.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return ""
}

// tlsConfig is the client TLS config for level toward host.
func (r *Relay) tlsConfig(level, host string) *tls.Config {
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if level != "verify" {
		// Opportunistic and encrypt-only TLS do not check the certificate
		// (RFC 7435 §1.3; Postfix's may and encrypt).
		cfg.InsecureSkipVerify = true
		cfg.MinVersion = tls.VersionTLS10
	} else {
		cfg.RootCAs = r.roots
	}
	return cfg
}
