// Package spf is the Sender Policy Framework check of RFC 7208: the
// check_host() function, with the record syntax of §4.6 and §12 (a syntax
// error anywhere in a record is a permerror before any term is
// evaluated), macros (§7, with transformers, delimiters and the "exp"-only
// letters), the "exp" and "redirect" modifiers (§6), and the processing
// limits of §4.6.4: 10 terms that ask the DNS, 2 void lookups, 10 MX and
// 10 PTR names.
//
// It asks the DNS through a Resolver: internal/dnsresolve's Client sends
// every query to dns.resolver and looks up any name a macro builds (Go's
// resolver refuses names with characters such as ":" or "+", which RFC
// 7208 names may hold). It passes the whole RFC 7208 test suite (pyspf's
// rfc7208-tests.yml, in testdata/), IPv4 and IPv6: see docs/auth.md.
package spf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Result is an SPF result (RFC 7208 §2.6); its text is the one
// Authentication-Results uses (RFC 8601 §2.7.2).
type Result string

const (
	None      Result = "none"
	Neutral   Result = "neutral"
	Pass      Result = "pass"
	Fail      Result = "fail"
	SoftFail  Result = "softfail"
	TempError Result = "temperror"
	PermError Result = "permerror"
)

// Resolver is what the check asks the DNS through. *net.Resolver has
// these methods, but refuses names RFC 7208 allows; internal/dnsresolve's
// Client does not. A name or record type that does not exist is a
// *net.DNSError with IsNotFound (a void lookup, §4.6.4); any other error
// is a failure to get an answer (temperror).
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	// LookupNetIP: network "ip4" asks A records, "ip6" AAAA.
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// The limits of RFC 7208 §4.6.4.
const (
	MaxLookups     = 10 // terms that ask the DNS: include a mx ptr exists redirect
	MaxVoidLookups = 2  // lookups that found nothing
	MaxMXNames     = 10 // MX records one mx term may have
	MaxPTRNames    = 10 // PTR names one ptr term (or %{p}) looks at
)

// Checker runs check_host().
type Checker struct {
	Resolver Resolver
	// Receiver is the domain of this host, for the %{r} macro of exp
	// text ("unknown" when empty).
	Receiver string
	// Explain makes a fail look up and expand the record's exp= text
	// (§6.2), one more DNS lookup. Off: Outcome.Explanation is empty.
	Explain bool
	// Now is the clock of %{t}; nil: time.Now.
	Now func() time.Time
}

// Outcome is the result of one check and how it came about.
type Outcome struct {
	Result Result
	// Reason says why, in a few words: the term that matched, the record
	// that was missing, the error (naming the DNS server asked).
	Reason string
	// Explanation is the sender's exp= text, expanded (Checker.Explain,
	// fail only); empty when there is none or it could not be had.
	Explanation string
	// Lookups and VoidLookups are the counts of §4.6.4.
	Lookups, VoidLookups int
}

// CheckHost is check_host(ip, domain, sender) of RFC 7208 §4: is ip
// allowed to send mail for domain? sender is the full identity
// (local@domain; for the HELO identity postmaster@helo, §2.3); helo is
// the HELO/EHLO name, for the %{h} macro.
func (c *Checker) CheckHost(ctx context.Context, ip netip.Addr, domain, sender, helo string) Outcome {
	ip = ip.Unmap()
	local, senderDomain := sender, domain
	if i := strings.LastIndexByte(sender, '@'); i >= 0 {
		local, senderDomain = sender[:i], sender[i+1:]
	}
	if local == "" {
		// §4.3: no local-part: "postmaster".
		local = "postmaster"
		sender = "postmaster@" + senderDomain
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	e := &eval{c: c, ctx: ctx, ip: ip, env: macroEnv{
		sender: sender, local: local, senderDomain: senderDomain, helo: helo,
		ip: ip, receiver: c.Receiver, now: now(),
	}}
	var pOnce bool
	var pValue string
	e.env.validated = func() string {
		if !pOnce {
			pOnce, pValue = true, e.validatedName(e.env.domain)
		}
		return pValue
	}
	domain = strings.TrimSuffix(domain, ".")
	r, why, exp := e.checkHost(domain, 0)
	out := Outcome{Result: r, Reason: why, Lookups: e.lookups, VoidLookups: e.void}
	if r == Fail && c.Explain && exp.rec != nil && exp.rec.Exp != nil {
		out.Explanation = e.explain(exp)
	}
	return out
}

// eval is the state of one check_host() and its recursions.
type eval struct {
	c       *Checker
	ctx     context.Context
	ip      netip.Addr
	env     macroEnv
	lookups int
	void    int
}

// explainCtx is the record whose directive decided a fail, and its
// domain: its exp= explains it (§6.2; an included record's never does).
type explainCtx struct {
	rec    *Record
	domain string
}

// errLimit is a processing limit reached: permerror.
type errLimit struct{ msg string }

func (e *errLimit) Error() string { return e.msg }

// validDomain is §4.3: a domain to check has labels of 1 to 63
// characters, at least two of them, and is no address literal.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 || strings.HasPrefix(d, "[") {
		return false
	}
	if _, err := netip.ParseAddr(d); err == nil {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}

func (e *eval) checkHost(domain string, depth int) (Result, string, explainCtx) {
	if !validDomain(domain) {
		return None, fmt.Sprintf("%q is not a domain name to check", domain), explainCtx{}
	}
	rec, r, why := e.fetch(domain)
	if rec == nil {
		return r, why, explainCtx{}
	}
	return e.evalRecord(rec, domain, depth)
}

// fetch finds and parses the SPF record of domain (§4.4, §4.5). No
// record: nil and the result (none, temperror, permerror) with a reason.
func (e *eval) fetch(domain string) (*Record, Result, string) {
	txts, err := e.c.Resolver.LookupTXT(e.ctx, domain)
	if err != nil {
		if isNotFound(err) {
			return nil, None, "no SPF record at " + domain
		}
		return nil, TempError, "cannot get the SPF record of " + domain + ": " + strings.TrimPrefix(dnsReason(err), domain+": ")
	}
	var spf []string
	for _, t := range txts {
		if IsSPF(t) {
			spf = append(spf, t)
		}
	}
	switch len(spf) {
	case 0:
		return nil, None, "no SPF record at " + domain
	case 1:
	default:
		return nil, PermError, fmt.Sprintf("%d SPF records at %s (one is allowed)", len(spf), domain)
	}
	rec, err := Parse(spf[0])
	if err != nil {
		return nil, PermError, "SPF record of " + domain + ": " + err.Error()
	}
	return rec, "", ""
}

func (e *eval) evalRecord(rec *Record, domain string, depth int) (Result, string, explainCtx) {
	saved := e.env.domain
	e.env.domain = domain
	defer func() { e.env.domain = saved }()
	for i := range rec.Directives {
		d := &rec.Directives[i]
		match, r, why := e.evalDirective(d, domain, depth)
		if r != "" {
			return r, why, explainCtx{}
		}
		if match {
			return d.Qualifier, fmt.Sprintf("matched %s in the SPF record of %s", d.Text, domain), explainCtx{rec, domain}
		}
	}
	if rec.Redirect != nil {
		// §6.1: a redirect applies when no mechanism matched (a record
		// with "all" always matches before it).
		if err := e.count(); err != nil {
			return PermError, err.Error(), explainCtx{}
		}
		target := rec.Redirect.expandDomain(&e.env)
		r, why, exp := e.checkHost(target, depth+1)
		if r == None {
			return PermError, "redirect=" + target + " of " + domain + ": " + why, explainCtx{}
		}
		return r, why, exp
	}
	return Neutral, "no mechanism matched in the SPF record of " + domain, explainCtx{}
}

// count counts one term that asks the DNS.
func (e *eval) count() error {
	e.lookups++
	if e.lookups > MaxLookups {
		return &errLimit{fmt.Sprintf("more than %d DNS lookups (RFC 7208 §4.6.4)", MaxLookups)}
	}
	return nil
}

// voidLookup counts a lookup that found nothing.
func (e *eval) voidLookup() error {
	e.void++
	if e.void > MaxVoidLookups {
		return &errLimit{fmt.Sprintf("more than %d lookups found nothing (RFC 7208 §4.6.4)", MaxVoidLookups)}
	}
	return nil
}

// evalDirective says whether d matches; a non-empty result ends the
// evaluation with it (an error, a limit).
func (e *eval) evalDirective(d *Directive, domain string, depth int) (bool, Result, string) {
	target := domain
	if d.Domain != nil {
		target = d.Domain.expandDomain(&e.env)
	}
	fail := func(err error) (bool, Result, string) {
		var le *errLimit
		if errors.As(err, &le) {
			return false, PermError, le.msg + " at " + d.Text + " in the SPF record of " + domain
		}
		return false, TempError, d.Text + " in the SPF record of " + domain + ": " + dnsReason(err)
	}
	switch d.Mechanism {
	case "all":
		return true, "", ""
	case "ip4", "ip6":
		return d.Prefix.Contains(e.ip), "", ""
	}
	if err := e.count(); err != nil {
		return fail(err)
	}
	switch d.Mechanism {
	case "include":
		r, why, _ := e.checkHost(target, depth+1)
		switch r {
		case Pass:
			return true, "", ""
		case Fail, SoftFail, Neutral:
			return false, "", ""
		case TempError:
			return false, TempError, "include:" + target + ": " + why
		default: // permerror, none (§5.2)
			return false, PermError, "include:" + target + ": " + why
		}
	case "a":
		ips, err := e.addrs(target, e.network())
		if err != nil {
			return fail(err)
		}
		return e.within(ips, d), "", ""
	case "mx":
		mxs, err := e.c.Resolver.LookupMX(e.ctx, target)
		if err != nil && !isNotFound(err) {
			return fail(err)
		}
		if err != nil || len(mxs) == 0 {
			if err := e.voidLookup(); err != nil {
				return fail(err)
			}
			return false, "", ""
		}
		if len(mxs) > MaxMXNames {
			return false, PermError, fmt.Sprintf("%s: %s has %d MX records, more than %d (RFC 7208 §4.6.4)", d.Text, target, len(mxs), MaxMXNames)
		}
		for _, mx := range mxs {
			host := strings.TrimSuffix(mx.Host, ".")
			if host == "" {
				continue // null MX (RFC 7505)
			}
			ips, err := e.c.Resolver.LookupNetIP(e.ctx, e.network(), host)
			if err != nil && !isNotFound(err) {
				return fail(err)
			}
			if e.within(ips, d) {
				return true, "", ""
			}
		}
		return false, "", ""
	case "ptr":
		names, err := e.validatedNames(true)
		if err != nil {
			return fail(err)
		}
		for _, name := range names {
			if isSubdomain(name, target) {
				return true, "", ""
			}
		}
		return false, "", ""
	case "exists":
		// §5.7: an A lookup, whatever the connection's IP version.
		ips, err := e.addrs(target, "ip4")
		if err != nil {
			return fail(err)
		}
		return len(ips) > 0, "", ""
	}
	return false, PermError, "unknown mechanism " + d.Text
}

func (e *eval) network() string {
	if e.ip.Is4() {
		return "ip4"
	}
	return "ip6"
}

// addrs looks up the addresses of host; none found is a void lookup.
func (e *eval) addrs(host, network string) ([]netip.Addr, error) {
	ips, err := e.c.Resolver.LookupNetIP(e.ctx, network, host)
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	if err != nil || len(ips) == 0 {
		return nil, e.voidLookup()
	}
	return ips, nil
}

// within reports whether the client's IP is in one of ips under d's CIDR
// lengths.
func (e *eval) within(ips []netip.Addr, d *Directive) bool {
	bits := d.Bits4
	if e.ip.Is6() {
		bits = d.Bits6
	}
	for _, a := range ips {
		a = a.Unmap()
		if a.Is4() != e.ip.Is4() {
			continue
		}
		if p, err := a.Prefix(bits); err == nil && p.Contains(e.ip) {
			return true
		}
	}
	return false
}

// validatedNames are the client's PTR names whose addresses include the
// client's (§5.5), at most MaxPTRNames looked at. DNS errors skip a name;
// an error on the PTR lookup itself gives none (the mechanism does not
// match). For the ptr mechanism (term), no PTR record is a void lookup;
// the error is only a limit reached.
func (e *eval) validatedNames(term bool) ([]string, error) {
	names, err := e.c.Resolver.LookupAddr(e.ctx, e.ip.String())
	if err != nil || len(names) == 0 {
		if term && (err == nil || isNotFound(err)) {
			return nil, e.voidLookup()
		}
		return nil, nil
	}
	if len(names) > MaxPTRNames {
		names = names[:MaxPTRNames]
	}
	var out []string
	for _, n := range names {
		n = strings.TrimSuffix(n, ".")
		ips, err := e.c.Resolver.LookupNetIP(e.ctx, e.network(), n)
		if err != nil {
			continue
		}
		for _, a := range ips {
			if a.Unmap() == e.ip {
				out = append(out, n)
				break
			}
		}
	}
	return out, nil
}

// validatedName is %{p} (§7.3): a validated name of the client, the
// current domain or one of its subdomains if one is, else "unknown".
func (e *eval) validatedName(domain string) string {
	names, _ := e.validatedNames(false)
	for _, n := range names {
		if strings.EqualFold(n, domain) {
			return n
		}
	}
	for _, n := range names {
		if isSubdomain(n, domain) {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return "unknown"
}

// isSubdomain reports whether name is domain or ends in "."+domain, in
// any case.
func isSubdomain(name, domain string) bool {
	name, domain = strings.ToLower(strings.TrimSuffix(name, ".")), strings.ToLower(strings.TrimSuffix(domain, "."))
	return name == domain || strings.HasSuffix(name, "."+domain)
}

// explain is §6.2: the TXT record at the expanded exp= domain, expanded
// as an explain-string. Any trouble (a DNS error, no record or several, a
// syntax error, non-ASCII text) gives no explanation.
func (e *eval) explain(x explainCtx) string {
	e.env.domain = x.domain
	name := x.rec.Exp.expandDomain(&e.env)
	txts, err := e.c.Resolver.LookupTXT(e.ctx, name)
	if err != nil || len(txts) != 1 {
		return ""
	}
	ms, err := parseMacroString(txts[0], true, true)
	if err != nil {
		return ""
	}
	return ms.expand(&e.env)
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// dnsReason is a DNS error in words, naming the server that was asked.
func dnsReason(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) {
		s := de.Err
		if de.Name != "" {
			s = de.Name + ": " + s
		}
		if de.Server != "" {
			s += " (asked " + de.Server + ")"
		}
		return s
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the time for the checks ran out"
	}
	return err.Error()
}
