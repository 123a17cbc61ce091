package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/ebbmail/ebb/internal/dane"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/mtasts"
	"github.com/ebbmail/ebb/internal/servetest"
)

// tlsReports collects the relay's TLS-RPT results.
type tlsReports struct {
	mu  sync.Mutex
	got []TLSResult
}

func (r *tlsReports) add(t TLSResult) {
	r.mu.Lock()
	r.got = append(r.got, t)
	r.mu.Unlock()
}

func (r *tlsReports) results(domain string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, t := range r.got {
		if t.Domain == domain {
			res := t.Result
			if res == "" {
				res = "success"
			}
			out = append(out, t.Policy+":"+res)
		}
	}
	return out
}

func tlsaOf(t *testing.T, c *tls.Certificate, usage, sel, typ uint8) string {
	t.Helper()
	x, err := x509.ParseCertificate(c.Certificate[len(c.Certificate)-1])
	if usage == dane.DANEEE {
		x, err = x509.ParseCertificate(c.Certificate[0])
	}
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d %d %d %s", usage, sel, typ, dane.Data(x, sel, typ))
}

// DANE (RFC 7672) with a test DNS that sets the AD bit for the zones a
// test marks secure, as a validating resolver does for signed zones: each
// case is a recipient domain whose MX host's TLSA records, DNSSEC status
// and certificate decide the delivery, the TLS-RPT result and what the
// error says. relay.tls is may throughout: DANE's TLS is required all the
// same, and never falls back to the clear.
func TestDANE(t *testing.T) {
	ca := servetest.NewCA(t)
	ips := []string{"127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24", "127.0.0.25"}
	port := freePortOn(t, ips...)
	good := ca.Leaf(t, "mx.good.secure.test")
	good.Certificate = append(good.Certificate, ca.Cert.Raw) // the chain up to the CA, for DANE-TA
	other := ca.Leaf(t, "mx.other.test")
	other.Certificate = append(other.Certificate, ca.Cert.Raw)
	srvGood := startServer(t, fmt.Sprintf("%s:%d", ips[0], port), good, nil)
	srvOther := startServer(t, fmt.Sprintf("%s:%d", ips[1], port), other, nil)
	srvPlain := startServer(t, fmt.Sprintf("%s:%d", ips[2], port), nil, nil)
	_ = srvOther
	e := newEnv(t, port, "tls = \"may\"\n[dane]\nexempt = [\"exempt.test\"]\n")
	e.dns.Secure("secure.test", true)
	add := func(domain, mxHost, ip string, tlsa ...string) {
		e.dns.MustAdd(domain+". MX 10 "+mxHost+".", mxHost+". A "+ip)
		for _, r := range tlsa {
			e.dns.MustAdd("_25._tcp." + mxHost + ". TLSA " + r)
		}
	}
	eeGood := tlsaOf(t, good, 3, 1, 1)
	add("ee.secure.test", "mx.ee.secure.test", ips[0], eeGood)
	add("eefull.secure.test", "mx.eefull.secure.test", ips[0], tlsaOf(t, good, 3, 0, 0))
	add("ee512.secure.test", "mx.ee512.secure.test", ips[0], tlsaOf(t, good, 3, 1, 2))
	add("mismatch.secure.test", "mx.mismatch.secure.test", ips[1], eeGood)
	add("ta.secure.test", "mx.good.secure.test", ips[0], tlsaOf(t, good, 2, 0, 1))
	// DANE-TA: the certificate names mx.other.test, not the MX host.
	add("taname.secure.test", "mx.taname.secure.test", ips[1], tlsaOf(t, other, 2, 0, 1))
	add("unusable.secure.test", "mx.unusable.secure.test", ips[1], "1 1 1 "+strings.Repeat("00", 32))
	add("nostarttls.secure.test", "mx.nostarttls.secure.test", ips[2], eeGood)
	add("exempt.test", "mx.exempt.test", ips[1], eeGood)
	e.dns.Secure("exempt.test", true)
	// Insecure: the records are there, DNSSEC does not vouch for them.
	add("insecure.test", "mx.insecure.test", ips[1], eeGood)
	// A secure MX naming a host in an insecure zone: no TLSA lookup.
	e.dns.MustAdd("crossing.secure.test. MX 10 mx.insecure.test.")
	// The TLSA lookup fails (a validating resolver's SERVFAIL): that host
	// is unusable, the next MX host takes the mail.
	e.dns.MustAdd("bogus.secure.test. MX 10 mx1.bogus.secure.test.", "bogus.secure.test. MX 20 mx2.bogus.secure.test.",
		"mx1.bogus.secure.test. A "+ips[0], "mx2.bogus.secure.test. A "+ips[2])
	e.dns.ServFailType("_25._tcp.mx1.bogus.secure.test", dns.TypeTLSA, true)
	e.dns.MustAdd("bogusonly.secure.test. MX 10 mx.bogusonly.secure.test.", "mx.bogusonly.secure.test. A "+ips[0])
	e.dns.ServFailType("_25._tcp.mx.bogusonly.secure.test", dns.TypeTLSA, true)
	// MTA-STS enforce lists another MX: DANE takes precedence (RFC 8461 §2).
	add("both.secure.test", "mx.both.secure.test", ips[0], eeGood)

	reports := &tlsReports{}
	r := e.relay(Options{Secure: dnsresolve.NewClient(e.cfg), TLSReport: reports.add, STS: stsTable{
		"both.secure.test": {Domain: "both.secure.test", ID: "pol1", Mode: mtasts.Enforce, MX: []string{"mx.elsewhere.test"}},
	}})

	for _, tc := range []struct {
		domain    string
		delivered bool
		tlsOn     bool     // delivered over TLS
		policy    []string // in the handoff's Policy, or the error
		reports   []string // TLS-RPT results for the domain
	}{
		{"ee.secure.test", true, true, []string{"DANE: DANE-EE(3) SPKI(1) SHA2-256(1)", "_25._tcp.mx.ee.secure.test matched, DNSSEC-validated"}, []string{"tlsa:success"}},
		{"eefull.secure.test", true, true, []string{"DANE-EE(3) Cert(0) Full(0)"}, []string{"tlsa:success"}},
		{"ee512.secure.test", true, true, []string{"DANE-EE(3) SPKI(1) SHA2-512(2)"}, []string{"tlsa:success"}},
		{"ta.secure.test", true, true, []string{"DANE-TA(2) Cert(0) SHA2-256(1)"}, []string{"tlsa:success"}},
		{"mismatch.secure.test", false, false, []string{"DANE: no TLSA record matches the certificate chain", "DANE applies: _25._tcp.mx.mismatch.secure.test has DNSSEC-validated TLSA records"}, []string{"tlsa:tlsa-invalid"}},
		{"taname.secure.test", false, false, []string{"names none of mx.taname.secure.test"}, []string{"tlsa:certificate-host-mismatch"}},
		{"unusable.secure.test", true, true, []string{"no usable TLSA record to authenticate it"}, []string{"tlsa:success"}},
		{"nostarttls.secure.test", false, false, []string{"does not offer STARTTLS and its TLSA records require TLS"}, []string{"tlsa:starttls-not-supported"}},
		{"exempt.test", true, true, []string{"opportunistic TLS (relay.tls = may), certificate not checked; TLSA records of exempt.test's MX hosts not applied (dane.exempt lists exempt.test)"}, []string{"no-policy-found:success"}},
		{"insecure.test", true, true, []string{"opportunistic TLS"}, []string{"no-policy-found:success"}},
		{"crossing.secure.test", true, true, []string{"opportunistic TLS"}, []string{"no-policy-found:success"}},
		{"bogus.secure.test", true, false, []string{"opportunistic TLS (relay.tls = may): not offered, sent in the clear"}, []string{"tlsa:dnssec-invalid", "no-policy-found:starttls-not-supported"}},
		{"bogusonly.secure.test", false, false, []string{"TLSA lookup of _25._tcp.mx.bogusonly.secure.test failed", "delv TLSA _25._tcp.mx.bogusonly.secure.test", "dane.exempt"}, []string{"tlsa:dnssec-invalid"}},
		{"both.secure.test", true, true, []string{"DANE: DANE-EE(3)"}, []string{"tlsa:success"}},
	} {
		t.Run(tc.domain, func(t *testing.T) {
			m := e.message("alice@ours.test", body, "bob@"+tc.domain)
			err := deliver(t, r, m, 0)
			if tc.delivered {
				if err != nil {
					t.Fatalf("not delivered: %v", err)
				}
				h := m.Recipients[0].Relay
				if (h.TLS != "none") != tc.tlsOn {
					t.Errorf("TLS %q, want on=%v", h.TLS, tc.tlsOn)
				}
				for _, w := range tc.policy {
					if !strings.Contains(h.Policy, w) {
						t.Errorf("policy %q lacks %q", h.Policy, w)
					}
				}
				if !strings.Contains(h.Summary(), "TLS policy: "+h.Policy) {
					t.Errorf("summary %q", h.Summary())
				}
			} else {
				if err == nil {
					t.Fatal("delivered")
				}
				d := mustDiag(t, err)
				text := d.Sentence() + " " + d.Hint
				if !d.Temporary() {
					t.Errorf("not temporary: %s", text)
				}
				for _, w := range tc.policy {
					if !strings.Contains(text, w) {
						t.Errorf("error lacks %q:\n%s", w, text)
					}
				}
				if d.Remote == nil || !strings.HasPrefix(d.Remote.Policy, "DANE") {
					t.Errorf("remote policy %+v", d.Remote)
				}
			}
			if got := reports.results(tc.domain); strings.Join(got, ",") != strings.Join(tc.reports, ",") {
				t.Errorf("TLS-RPT %v, want %v", got, tc.reports)
			}
		})
	}
	// DANE never falls back to the clear: nothing reached the plain server
	// for the host that did not offer STARTTLS but the bogus domain's
	// second MX (no DANE there).
	for _, g := range srvPlain.got() {
		if !strings.HasSuffix(g.To, "@bogus.secure.test") {
			t.Errorf("sent in the clear: %s", g.To)
		}
	}
	if len(srvGood.got()) == 0 {
		t.Error("nothing reached the good server")
	}
	if v := testutilCount(t, r.Metrics().daneExempt); v != 1 {
		t.Errorf("dane exempt counted %v", v)
	}
	if v := testutilCount(t, r.Metrics().sessions.WithLabelValues("dane", "tlsa-invalid")); v != 1 {
		t.Errorf("tlsa-invalid counted %v", v)
	}
}

// Without a trusted resolver (dns.dnssec off) no TLSA record is looked up
// and a mismatching certificate is no obstacle at level may.
func TestDANEOffWithoutSecureResolver(t *testing.T) {
	ca := servetest.NewCA(t)
	port := freePortOn(t, "127.0.0.26")
	startServer(t, fmt.Sprintf("127.0.0.26:%d", port), ca.Leaf(t, "mx.x.test"), nil)
	e := newEnv(t, port, "")
	e.dns.Secure("secure.test", true)
	e.dns.MustAdd("d.secure.test. MX 10 mx.d.secure.test.", "mx.d.secure.test. A 127.0.0.26",
		"_25._tcp.mx.d.secure.test. TLSA 3 1 1 "+strings.Repeat("00", 32))
	r := e.relay(Options{})
	m := e.message("alice@ours.test", body, "bob@d.secure.test")
	if err := deliver(t, r, m, 0); err != nil {
		t.Fatal(err)
	}
	if n := e.dns.Queries("_25._tcp.mx.d.secure.test", dns.TypeTLSA); n != 0 {
		t.Errorf("TLSA asked %d times", n)
	}
}

// ebb route's plan says what DANE makes of each MX host.
func TestPlanDANE(t *testing.T) {
	e := newEnv(t, 25, "")
	e.dns.Secure("secure.test", true)
	e.dns.MustAdd("p.secure.test. MX 10 mx1.p.secure.test.", "p.secure.test. MX 20 mx2.p.secure.test.",
		"mx1.p.secure.test. A 127.0.0.27", "mx2.p.secure.test. A 127.0.0.28",
		"_25._tcp.mx1.p.secure.test. TLSA 3 1 1 "+strings.Repeat("ab", 32),
		"q.insecure.test. MX 10 mx.q.insecure.test.", "mx.q.insecure.test. A 127.0.0.27")
	r := e.relay(Options{Secure: dnsresolve.NewClient(e.cfg)})
	p, err := r.Plan(t.Context(), "p.secure.test", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Hosts) != 2 || !strings.Contains(p.Hosts[0].DANE, "TLS required, authenticated by the TLSA records at _25._tcp.mx1.p.secure.test") ||
		len(p.Hosts[0].DANERecords) != 1 || !strings.Contains(p.Hosts[1].DANE, "no DNSSEC-validated TLSA record") {
		t.Errorf("plan %+v", p.Hosts)
	}
	p, err = r.Plan(t.Context(), "q.insecure.test", false)
	if err != nil || !strings.Contains(p.Hosts[0].DANE, "MX records of q.insecure.test are not DNSSEC-validated") {
		t.Errorf("insecure plan %+v %v", p.Hosts, err)
	}
}

type stsFailing struct{ err error }

func (s stsFailing) Get(context.Context, string) (*mtasts.Policy, error) { return nil, s.err }

// A policy that could not be had, and MX hosts MTA-STS does not list, are
// TLS-RPT failures of the sts policy (RFC 8460 §4.3.2.2) besides the
// session's own result.
func TestTLSReportPolicyFailures(t *testing.T) {
	srv := startServer(t, "127.0.0.29:0", nil, nil)
	var port int
	fmt.Sscan(srv.Addr[strings.LastIndexByte(srv.Addr, ':')+1:], &port)
	e := newEnv(t, port, "")
	e.dns.MustAdd("fetch.test. MX 10 mx.fetch.test.", "mx.fetch.test. A 127.0.0.29")
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("fetch https://mta-sts.fetch.test/.well-known/mta-sts.txt: dial tcp: connection refused"), "sts:sts-policy-fetch-error"},
		{fmt.Errorf("fetch https://mta-sts.fetch.test/...: tls: x509: certificate signed by unknown authority"), "sts:sts-webpki-invalid"},
		{fmt.Errorf("policy from https://mta-sts.fetch.test/...: no mode"), "sts:sts-policy-invalid"},
	} {
		reports := &tlsReports{}
		r := e.relay(Options{STS: stsFailing{c.err}, TLSReport: reports.add})
		m := e.message("alice@ours.test", body, "bob@fetch.test")
		if err := deliver(t, r, m, 0); err != nil {
			t.Fatal(err)
		}
		got := reports.results("fetch.test")
		if len(got) != 2 || got[0] != c.want || got[1] != "no-policy-found:starttls-not-supported" {
			t.Errorf("%v: %v, want %s then the session's", c.err, got, c.want)
		}
	}
	reports := &tlsReports{}
	r := e.relay(Options{TLSReport: reports.add, STS: stsTable{"fetch.test": {Domain: "fetch.test", Mode: mtasts.Enforce, MX: []string{"other.test"}}}})
	m := e.message("alice@ours.test", body, "bob@fetch.test")
	if err := deliver(t, r, m, 0); err == nil {
		t.Fatal("delivered despite MTA-STS")
	}
	if got := reports.results("fetch.test"); strings.Join(got, ",") != "sts:validation-failure" {
		t.Errorf("mx mismatch: %v", got)
	}
}
