// Package dnscheck tells which DNS records a hosted domain needs, what is
// published, whether it matches, and the exact record to publish (ebb dns
// check DOMAIN; doctor's dns.records): MX and the MX host's address, SPF,
// DKIM (each key), DMARC, MTA-STS (the _mta-sts id of the policy ebb
// serves, the mta-sts. host), TLS-RPT, TLSA for the current and the next
// certificate key, the SRV records of RFC 6186/8314 and autodiscover, the
// autoconfig. host, and the PTR and forward-confirmed reverse DNS of each
// sending address.
//
// Every lookup goes to dns.resolver (internal/dnsresolve): tests point it
// at internal/dnstest on loopback, never at the host's resolver.
//
//	recs := dnscheck.Check(ctx, dnscheck.FromConfig(cfg), "example.org")
//	for _, r := range recs { fmt.Println(r.Status, r.Name, r.Want) }
//
// A lookup that fails (SERVFAIL, timeout) is StatusError with the server's
// words: nothing is claimed missing that could not be asked.
package dnscheck

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/ebbmail/ebb/internal/acme"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/msgauth"
	"github.com/ebbmail/ebb/internal/mtasts"
	"github.com/ebbmail/ebb/internal/spf"
	"github.com/ebbmail/ebb/internal/wellknown"
)

// Status is the verdict on one record.
type Status string

const (
	OK      Status = "ok"      // published and right
	Missing Status = "missing" // not published
	Wrong   Status = "wrong"   // published, but not what it must be
	Warning Status = "warning" // right now, but will break (a TLSA before a key rollover)
	Error   Status = "error"   // the lookup failed: nothing known
	Info    Status = "info"    // optional and not published
)

// Record is one record the domain needs.
type Record struct {
	Kind      string   `json:"kind"` // MX, address, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, TLSA, SRV, PTR
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	Status    Status   `json:"status"`
	Published []string `json:"published,omitempty"`
	// Want is the zone-file line to publish ("" when there is nothing
	// to publish, or the value is ebb's to know: an address).
	Want string `json:"want,omitempty"`
	Why  string `json:"why,omitempty"`
}

// Options are what the check compares with.
type Options struct {
	Cfg      *config.Config
	Client   *dnsresolve.Client // dns.resolver
	Hostname string             // the MX and SMTP name (server.hostname)
	Helo     string             // the EHLO name of outbound mail
	Settings wellknown.Settings
	Now      time.Time
}

// FromConfig reads the options from the settings.
func FromConfig(cfg *config.Config) Options {
	s := wellknown.FromConfig(cfg)
	helo := cfg.Relay.HeloName
	if helo == "" {
		helo = s.Hostname
	}
	return Options{Cfg: cfg, Client: dnsresolve.NewClient(cfg), Hostname: strings.ToLower(s.Hostname), Helo: strings.ToLower(helo), Settings: s, Now: time.Now()}
}

const ttl = 3600

func txtLine(name, value string) string {
	return fmt.Sprintf("%s. %d IN TXT %q", name, ttl, value)
}

// lookupErr classifies a lookup's error: nil and false for "none
// published", a Record of StatusError for a failure.
func lookupErr(err error, kind, name, typ string) (Record, bool) {
	if err == nil || dnsresolve.IsNotFound(err) {
		return Record{}, false
	}
	return Record{Kind: kind, Name: name, Type: typ, Status: Error, Why: err.Error()}, true
}

// Check returns every record domain needs, in a fixed order.
func Check(ctx context.Context, o Options, domain string) []Record {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	var out []Record
	out = append(out, o.mx(ctx, domain)...)
	out = append(out, o.spf(ctx, domain))
	out = append(out, o.dkim(ctx, domain)...)
	out = append(out, o.dmarc(ctx, domain))
	out = append(out, o.mtasts(ctx, domain)...)
	out = append(out, o.tlsrpt(ctx, domain))
	out = append(out, o.tlsa(ctx)...)
	out = append(out, o.srv(ctx, domain)...)
	out = append(out, o.ptr(ctx)...)
	return out
}

// hasAddress: name has an A or AAAA record (directly or by CNAME).
func (o Options) hasAddress(ctx context.Context, kind, name string) Record {
	r := Record{Kind: kind, Name: name, Type: "A/AAAA"}
	ips, err := o.Client.LookupIPAddr(ctx, name)
	if e, bad := lookupErr(err, kind, name, "A/AAAA"); bad {
		return e
	}
	for _, ip := range ips {
		r.Published = append(r.Published, ip.IP.String())
	}
	if len(ips) == 0 {
		r.Status = Missing
		if name == o.Hostname {
			r.Want = fmt.Sprintf("%s. %d IN A <this host's public IPv4 address>", name, ttl)
			r.Why = "the MX host has no address: no mail can reach it"
		} else {
			r.Want = fmt.Sprintf("%s. %d IN CNAME %s.", name, ttl, o.Hostname)
			r.Why = "clients and the ACME CA look this name up"
		}
		return r
	}
	r.Status = OK
	return r
}

func (o Options) mx(ctx context.Context, domain string) []Record {
	r := Record{Kind: "MX", Name: domain, Type: "MX", Want: fmt.Sprintf("%s. %d IN MX 10 %s.", domain, ttl, o.Hostname)}
	mxs, err := o.Client.LookupMX(ctx, domain)
	if e, bad := lookupErr(err, "MX", domain, "MX"); bad {
		return []Record{e}
	}
	found := false
	for _, m := range mxs {
		host := strings.ToLower(strings.TrimSuffix(m.Host, "."))
		r.Published = append(r.Published, fmt.Sprintf("%d %s.", m.Pref, host))
		found = found || host == o.Hostname
	}
	switch {
	case len(mxs) == 0:
		r.Status, r.Why = Missing, "no MX: senders try the domain's own address (RFC 5321 §5.1), which may not be this host"
	case len(mxs) == 1 && mxs[0].Host == ".":
		r.Status, r.Why = Wrong, "a null MX (RFC 7505): the domain says it takes no mail"
	case !found:
		r.Status, r.Why = Wrong, "no MX names this host ("+o.Hostname+"); fine for a filtering service in front, else mail goes elsewhere"
	default:
		r.Status, r.Want = OK, ""
	}
	return []Record{r, o.hasAddress(ctx, "address", o.Hostname)}
}

// sendingAddrs are the addresses outbound mail leaves from: those of the
// EHLO name (the address receivers check it against).
func (o Options) sendingAddrs(ctx context.Context) ([]netip.Addr, error) {
	ips, err := o.Client.LookupNetIP(ctx, "ip", o.Helo)
	if err != nil {
		return nil, err
	}
	return ips, nil
}

// txt looks up the TXT records at name and returns those that are kind's
// (is); failed is the Record of a lookup that failed.
func (o Options) txt(ctx context.Context, kind, name string, is func(string) bool) (found []string, failed *Record) {
	txts, err := o.Client.LookupTXT(ctx, name)
	if e, bad := lookupErr(err, kind, name, "TXT"); bad {
		return nil, &e
	}
	for _, t := range txts {
		if is(t) {
			found = append(found, t)
		}
	}
	return found, nil
}

// startsWith is a TXT record's version tag test (v=DMARC1, v=STSv1 ...).
func startsWith(prefix string) func(string) bool {
	return func(t string) bool { return strings.HasPrefix(t, prefix) }
}

func (o Options) spf(ctx context.Context, domain string) Record {
	r := Record{Kind: "SPF", Name: domain, Type: "TXT", Want: txtLine(domain, "v=spf1 mx -all")}
	var failed *Record
	if r.Published, failed = o.txt(ctx, "SPF", domain, spf.IsSPF); failed != nil {
		return *failed
	}
	if len(r.Published) == 0 {
		r.Status, r.Why = Missing, "receivers cannot tell your mail from forgeries; with DMARC they refuse it"
		return r
	}
	ips, err := o.sendingAddrs(ctx)
	if err != nil || len(ips) == 0 {
		r.Status, r.Why = Error, fmt.Sprintf("cannot check it: the EHLO name %s has no address (%v)", o.Helo, err)
		return r
	}
	var bad []string
	for _, ip := range ips {
		res := (&spf.Checker{Resolver: o.Client}).CheckHost(ctx, ip.Unmap(), domain, "postmaster@"+domain, o.Helo)
		if res.Result != spf.Pass {
			bad = append(bad, fmt.Sprintf("%s (%s)", ip, res.Result))
			if ip.Unmap().Is4() {
				r.Want = txtLine(domain, "v=spf1 mx ip4:"+ip.Unmap().String()+" -all")
			} else {
				r.Want = txtLine(domain, "v=spf1 mx ip6:"+ip.String()+" -all")
			}
		}
	}
	if len(bad) > 0 {
		r.Status, r.Why = Wrong, "SPF does not pass for this host's sending addresses "+strings.Join(bad, ", ")
		return r
	}
	r.Status, r.Want = OK, ""
	return r
}

func (o Options) dkim(ctx context.Context, domain string) []Record {
	dir := o.Cfg.DKIMKeyDir()
	keys, err := msgauth.LoadKeys(dir, domain)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return []Record{{Kind: "DKIM", Name: "*._domainkey." + domain, Type: "TXT", Status: Error, Why: err.Error()}}
	}
	if len(keys) == 0 {
		return []Record{{Kind: "DKIM", Name: "*._domainkey." + domain, Type: "TXT", Status: Missing,
			Why: "no DKIM key for this domain in " + dir + ": make one with ebb dkim keygen " + domain + ", which prints the record"}}
	}
	var out []Record
	for _, k := range keys {
		r := Record{Kind: "DKIM", Name: k.RecordName(), Type: "TXT", Want: k.ZoneLine()}
		txts, err := o.Client.LookupTXT(ctx, k.RecordName())
		if e, bad := lookupErr(err, "DKIM", k.RecordName(), "TXT"); bad {
			out = append(out, e)
			continue
		}
		r.Published = txts
		why := k.MatchTXT(txts)
		switch {
		case len(txts) == 0:
			r.Status, r.Why = Missing, "signatures with selector "+k.Selector+" fail at every receiver"
		case why != "":
			r.Status, r.Why = Wrong, why
		default:
			r.Status, r.Want = OK, ""
		}
		if k.Pending && r.Status != OK {
			r.Why = "pending key: publish it, then ebb dkim activates it"
		}
		out = append(out, r)
	}
	return out
}

func (o Options) dmarc(ctx context.Context, domain string) Record {
	name := "_dmarc." + domain
	r := Record{Kind: "DMARC", Name: name, Type: "TXT", Want: txtLine(name, "v=DMARC1; p=none; rua=mailto:postmaster@"+domain)}
	var failed *Record
	if r.Published, failed = o.txt(ctx, "DMARC", name, startsWith("v=DMARC1")); failed != nil {
		return *failed
	}
	switch len(r.Published) {
	case 0:
		if org := msgauth.OrgDomain(domain); org != domain {
			r.Why = "none here; the organizational domain's (_dmarc." + org + ") applies if it has one"
		} else {
			r.Why = "receivers cannot tell your mail from forgeries; start with p=none, then quarantine or reject"
		}
		r.Status = Missing
	case 1:
		r.Status, r.Want = OK, ""
		if why, want := o.dmarcRUA(ctx, domain, r.Published[0]); why != "" {
			r.Status, r.Why, r.Want = Warning, why, want
		}
	default:
		// RFC 7489 §6.6.3: more than one record is no record.
		r.Status, r.Why = Wrong, "more than one DMARC record: receivers ignore them all (RFC 7489 §6.6.3)"
	}
	return r
}

func (o Options) mtasts(ctx context.Context, domain string) []Record {
	name := "_mta-sts." + domain
	r := Record{Kind: "MTA-STS", Name: name, Type: "TXT"}
	sts, failed := o.txt(ctx, "MTA-STS", name, startsWith("v=STSv1"))
	if failed != nil {
		return []Record{*failed}
	}
	r.Published = sts
	_, id, serving := wellknown.PolicyText(o.Settings)
	if !serving || len(o.Cfg.Web.Listen) == 0 {
		if len(sts) > 0 {
			r.Status, r.Why = Wrong, "a policy is announced but ebb serves none (web.mta_sts_mode, web.listen): senders that enforce a cached policy keep it; serve mode none for max_age before removing the record"
		} else {
			r.Status, r.Why = Info, "no MTA-STS: senders use TLS when offered but cannot insist (set web.listen and web.mta_sts_mode to serve a policy)"
		}
		return []Record{r}
	}
	r.Want = txtLine(name, wellknown.MTASTSRecord(id))
	got, perr := mtasts.ParseTXT(sts)
	switch {
	case len(sts) == 0:
		r.Status, r.Why = Missing, "senders do not look for the policy ebb serves (mode "+o.Settings.MTASTSMode+") until this record exists"
	case perr != nil:
		r.Status, r.Why = Wrong, perr.Error()
	case got != id:
		r.Status, r.Why = Wrong, "id "+got+" is not the id of the policy ebb serves ("+id+"): senders keep the policy they have until its max_age"
	default:
		r.Status, r.Want = OK, ""
	}
	return []Record{r, o.hasAddress(ctx, "MTA-STS", "mta-sts."+domain)}
}

func (o Options) tlsrpt(ctx context.Context, domain string) Record {
	name := "_smtp._tls." + domain
	r := Record{Kind: "TLS-RPT", Name: name, Type: "TXT", Want: txtLine(name, "v=TLSRPTv1; rua=mailto:postmaster@"+domain)}
	var failed *Record
	if r.Published, failed = o.txt(ctx, "TLS-RPT", name, startsWith("v=TLSRPTv1")); failed != nil {
		return *failed
	}
	switch {
	case len(r.Published) == 0:
		r.Status, r.Why = Info, "no TLS reports: senders cannot tell you when TLS to you fails (RFC 8460)"
	case len(r.Published) > 1:
		r.Status, r.Why = Wrong, "more than one TLSRPTv1 record: senders ignore them all (RFC 8460 §3)"
	default:
		if why := checkTLSRPT(r.Published[0]); why != "" {
			r.Status, r.Why = Wrong, why
		} else {
			r.Status, r.Want = OK, ""
		}
	}
	return r
}

// checkTLSRPT checks a record's syntax (RFC 8460 §3): v first, a rua of
// mailto: or https: URIs.
func checkTLSRPT(rec string) string {
	var rua string
	for i, part := range strings.Split(rec, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if i == 0 && (k != "v" || v != "TLSRPTv1") {
			return "the record must begin with v=TLSRPTv1"
		}
		if k == "rua" {
			rua = v
		}
	}
	if rua == "" {
		return "no rua= (where reports go)"
	}
	for _, u := range strings.Split(rua, ",") {
		u = strings.TrimSpace(u)
		if !strings.HasPrefix(u, "mailto:") && !strings.HasPrefix(u, "https:") {
			return "rua " + u + " is neither mailto: nor https:"
		}
	}
	return ""
}

// serverKeys are the public keys of the certificate STARTTLS offers and
// of the next one (ACME), with the current certificate's end.
func (o Options) serverKeys() (cur, next crypto.PublicKey, notAfter time.Time, source string, err error) {
	cfg := o.Cfg
	if cfg.SMTP.TLSCert != "" {
		leaf, err := acme.ReadLeaf(cfg.SMTP.TLSCert)
		if err != nil {
			return nil, nil, time.Time{}, "smtp.tls_cert", err
		}
		return leaf.PublicKey, nil, leaf.NotAfter, "smtp.tls_cert", nil
	}
	if cfg.ACME.Enable {
		cur, next, na, err := acme.Store{Dir: cfg.ACMEDir()}.PublicKeys(acme.ServerNames(cfg)[0])
		return cur, next, na, "acme", err
	}
	return nil, nil, time.Time{}, "", nil
}

func (o Options) tlsa(ctx context.Context) []Record {
	name := TLSAName(o.Hostname, 25)
	r := Record{Kind: "TLSA", Name: name, Type: "TLSA"}
	cur, next, notAfter, source, kerr := o.serverKeys()
	published, err := LookupTLSA(ctx, o.Client, name)
	if err != nil {
		r.Status, r.Why = Error, err.Error()
		return []Record{r}
	}
	r.Published = published
	if kerr != nil || cur == nil {
		switch {
		case len(published) > 0:
			r.Status, r.Why = Wrong, "TLSA records are published but ebb has no certificate to offer (smtp.tls_cert, acme.enable)"
		case kerr != nil:
			r.Status, r.Why = Error, "cannot read the certificate: "+kerr.Error()
		default:
			r.Status, r.Why = Info, "no STARTTLS certificate, so no TLSA"
		}
		return []Record{r}
	}
	curData, _ := TLSAData(cur)
	want := []string{fmt.Sprintf("%s. %d IN TLSA %s", name, ttl, curData)}
	nextData := ""
	if next != nil {
		nextData, _ = TLSAData(next)
		want = append(want, fmt.Sprintf("%s. %d IN TLSA %s", name, ttl, nextData))
	}
	r.Want = strings.Join(want, "\n")
	has := func(d string) bool {
		for _, p := range published {
			if p == d {
				return true
			}
		}
		return false
	}
	switch {
	case len(published) == 0:
		r.Status, r.Why = Info, "no DANE (RFC 7672): publish these only in a DNSSEC-signed zone; the next key's record lets the key roll at renewal"
	case !has(curData):
		r.Status, r.Why = Wrong, "no record matches the certificate STARTTLS offers now: senders that check DANE defer all mail to this domain"
	case next != nil && !has(nextData):
		r.Status, r.Why = Warning, "the next key's record is missing: until it is published ebb keeps the current key at each renewal (from "+notAfter.AddDate(0, 0, -30).Format(time.DateOnly)+"); publish it so that the key can roll"
	case source == "smtp.tls_cert" && notAfter.Sub(o.Now) < 30*24*time.Hour:
		r.Status, r.Why = Warning, "the certificate ends on "+notAfter.Format(time.DateOnly)+": if its renewal (certbot …) makes a new key, this record breaks; renew with the same key (certbot --reuse-key) or publish the new key's record first"
	default:
		r.Status, r.Want = OK, ""
	}
	if why := o.tlsaSecure(ctx, name); why != "" && len(published) > 0 {
		r.Status, r.Why = Wrong, why
	}
	return []Record{r}
}

// srv: RFC 6186 and RFC 8314 §5.1 records for the client services ebb's
// host offers, and autodiscover's; plus the autoconfig. host.
func (o Options) srv(ctx context.Context, domain string) []Record {
	type svc struct {
		service string
		host    string
		port    int
	}
	var want []svc
	if sub := o.Settings.Submission; sub != nil {
		if sub.Implicit {
			want = append(want, svc{"_submissions._tcp", sub.Host, sub.Port})
		} else {
			want = append(want, svc{"_submission._tcp", sub.Host, sub.Port})
		}
	}
	if o.Settings.IMAP.Implicit {
		want = append(want, svc{"_imaps._tcp", o.Settings.IMAP.Host, o.Settings.IMAP.Port})
	} else {
		want = append(want, svc{"_imap._tcp", o.Settings.IMAP.Host, o.Settings.IMAP.Port})
	}
	webOn := o.Settings.Autoconfig && len(o.Cfg.Web.Listen) > 0
	if webOn {
		want = append(want, svc{"_autodiscover._tcp", o.Hostname, 443})
	}
	var out []Record
	for _, w := range want {
		name := w.service + "." + domain
		r := Record{Kind: "SRV", Name: name, Type: "SRV", Want: fmt.Sprintf("%s. %d IN SRV 0 1 %d %s.", name, ttl, w.port, strings.ToLower(w.host))}
		rrs, err := o.Client.Query(ctx, name, dns.TypeSRV)
		if e, bad := lookupErr(err, "SRV", name, "SRV"); bad {
			out = append(out, e)
			continue
		}
		match := false
		for _, rr := range rrs {
			if s, ok := rr.(*dns.SRV); ok {
				t := strings.ToLower(strings.TrimSuffix(s.Target, "."))
				r.Published = append(r.Published, fmt.Sprintf("%d %d %d %s.", s.Priority, s.Weight, s.Port, t))
				match = match || (t == strings.ToLower(w.host) && int(s.Port) == w.port)
			}
		}
		switch {
		case len(r.Published) == 0:
			r.Status, r.Why = Info, "mail clients that look it up (RFC 6186) find the server by it"
		case !match:
			r.Status, r.Why = Wrong, fmt.Sprintf("no record points at %s port %d", w.host, w.port)
		default:
			r.Status, r.Want = OK, ""
		}
		out = append(out, r)
	}
	if webOn {
		a := o.hasAddress(ctx, "autoconfig", "autoconfig."+domain)
		if a.Status == Missing {
			a.Status, a.Why = Info, "Thunderbird asks autoconfig."+domain+" for the settings"
		}
		out = append(out, a)
	}
	return out
}

// ptr: every sending address has a PTR naming the EHLO name, and that name
// has the address (forward-confirmed reverse DNS): receivers refuse or
// junk mail from addresses without it.
func (o Options) ptr(ctx context.Context) []Record {
	ips, err := o.sendingAddrs(ctx)
	if err != nil {
		if e, bad := lookupErr(err, "PTR", o.Helo, "A/AAAA"); bad {
			return []Record{e}
		}
		return []Record{{Kind: "PTR", Name: o.Helo, Type: "A/AAAA", Status: Missing,
			Want: fmt.Sprintf("%s. %d IN A <the address mail leaves from>", o.Helo, ttl),
			Why:  "the EHLO name (relay.helo_name or server.hostname) has no address: receivers check it"}}
	}
	var out []Record
	for _, ip := range ips {
		arpa, _ := dns.ReverseAddr(ip.String())
		arpa = strings.TrimSuffix(arpa, ".")
		r := Record{Kind: "PTR", Name: arpa, Type: "PTR", Want: fmt.Sprintf("%s. %d IN PTR %s. (set by whoever runs the address: your provider)", arpa, ttl, o.Helo)}
		names, err := o.Client.LookupAddr(ctx, ip.String())
		if e, bad := lookupErr(err, "PTR", arpa, "PTR"); bad {
			out = append(out, e)
			continue
		}
		confirmed, helo := false, false
		for _, n := range names {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
			r.Published = append(r.Published, n+".")
			fwd, err := o.Client.LookupNetIP(ctx, "ip", n)
			if err != nil {
				continue
			}
			for _, f := range fwd {
				if f.Unmap() == ip.Unmap() {
					confirmed = true
					helo = helo || n == o.Helo
				}
			}
		}
		switch {
		case len(names) == 0:
			r.Status, r.Why = Missing, ip.String()+" has no reverse DNS: many receivers refuse mail from it"
		case !confirmed:
			r.Status, r.Why = Wrong, "the PTR name does not resolve back to "+ip.String()+" (no forward-confirmed reverse DNS)"
		case !helo:
			r.Status, r.Why = Warning, "forward-confirmed, but not as the EHLO name "+o.Helo+": some receivers check that they agree"
		default:
			r.Status, r.Want = OK, ""
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Failing reports whether a record needs the admin: missing, wrong, a
// warning, or not checkable.
func (r Record) Failing() bool {
	return r.Status == Missing || r.Status == Wrong || r.Status == Warning || r.Status == Error
}
