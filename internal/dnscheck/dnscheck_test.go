package dnscheck

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/dnstest"
	"github.com/ebbmail/ebb/internal/msgauth"
	"github.com/ebbmail/ebb/internal/wellknown"
)

// certFile writes a certificate for name ending at notAfter and returns
// its path and TLSA data.
func certFile(t *testing.T, dir, name string, notAfter time.Time) (string, string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "cert.pem")
	os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	d, _ := TLSAData(&k.PublicKey)
	return p, d
}

type fixture struct {
	dns  *dnstest.Server
	cfg  *config.Config
	tlsa string
	dkim *msgauth.Key
}

func newFixture(t *testing.T, certEnds time.Time) *fixture {
	t.Helper()
	s, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.Server.Hostname = "mail.example.net"
	cfg.Server.DataDir = dir
	cfg.DNS.Resolver = s.Addr()
	cfg.DNS.Timeout = config.D(2 * time.Second)
	cfg.Web.Listen = []string{"127.0.0.1:0"}
	cfg.Submission.ListenTLS = []string{"127.0.0.1:465"}
	f := &fixture{dns: s, cfg: cfg}
	cfg.SMTP.TLSCert, f.tlsa = certFile(t, dir, "mail.example.net", certEnds)
	key, _ := msgauth.GenerateKey("ed25519")
	path, err := msgauth.WriteKey(cfg.DKIMKeyDir(), "example.org", "s1", key, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.dkim, err = msgauth.LoadKey(path); err != nil {
		t.Fatal(err)
	}
	return f
}

func byName(recs []Record) map[string]Record {
	m := map[string]Record{}
	for _, r := range recs {
		m[r.Kind+" "+r.Name] = r
	}
	return m
}

// A domain with some records right, some missing, some wrong: each is
// reported as it is, with the exact record to publish.
func TestCheckReportsEachRecordAsPublished(t *testing.T) {
	f := newFixture(t, time.Now().Add(80*24*time.Hour))
	_, id, _ := wellknown.PolicyText(wellknown.FromConfig(f.cfg))
	f.dns.MustAdd(
		"example.org. MX 10 mail.example.net.",
		"mail.example.net. A 192.0.2.10",
		`example.org. TXT "v=spf1 ip4:192.0.2.10 -all"`,
		`_mta-sts.example.org. TXT "v=STSv1; id=old1"`,
		`_smtp._tls.example.org. TXT "v=TLSRPTv1; rua=mailto:tls@example.org"`,
		"_25._tcp.mail.example.net. TLSA 3 1 1 0000000000000000000000000000000000000000000000000000000000000000",
		"_submissions._tcp.example.org. SRV 0 1 465 mail.example.net.",
		"10.2.0.192.in-addr.arpa. PTR mail.example.net.",
		"autoconfig.example.org. CNAME mail.example.net.",
		f.dkim.RecordName()+". TXT \""+f.dkim.TXT()+"\"",
	)
	recs := Check(context.Background(), FromConfig(f.cfg), "example.org")
	got := byName(recs)
	for key, want := range map[string]Status{
		"MX example.org":                     OK,
		"address mail.example.net":           OK,
		"SPF example.org":                    OK,
		"DKIM " + f.dkim.RecordName():        OK,
		"DMARC _dmarc.example.org":           Missing,
		"MTA-STS _mta-sts.example.org":       Wrong,
		"MTA-STS mta-sts.example.org":        Missing,
		"TLS-RPT _smtp._tls.example.org":     OK,
		"TLSA _25._tcp.mail.example.net":     Wrong,
		"SRV _submissions._tcp.example.org":  OK,
		"SRV _imaps._tcp.example.org":        Info,
		"SRV _autodiscover._tcp.example.org": Info,
		"autoconfig autoconfig.example.org":  OK,
		"PTR 10.2.0.192.in-addr.arpa":        OK,
	} {
		r, ok := got[key]
		if !ok {
			t.Errorf("%s: not checked; records: %+v", key, recs)
			continue
		}
		if r.Status != want {
			t.Errorf("%s: %s (%s), want %s", key, r.Status, r.Why, want)
		}
	}
	if w := got["MTA-STS _mta-sts.example.org"].Want; w != `_mta-sts.example.org. 3600 IN TXT "v=STSv1; id=`+id+`"` {
		t.Errorf("MTA-STS record to publish: %s", w)
	}
	if w := got["TLSA _25._tcp.mail.example.net"].Want; w != "_25._tcp.mail.example.net. 3600 IN TLSA "+f.tlsa {
		t.Errorf("TLSA to publish: %s", w)
	}
	if w := got["DMARC _dmarc.example.org"].Want; !strings.Contains(w, `"v=DMARC1; p=none; rua=mailto:postmaster@example.org"`) {
		t.Errorf("DMARC to publish: %s", w)
	}
	if w := got["MTA-STS mta-sts.example.org"].Want; w != "mta-sts.example.org. 3600 IN CNAME mail.example.net." {
		t.Errorf("mta-sts host: %s", w)
	}
	if r := (Report{Domain: "example.org", Records: recs}); !r.NeedsWork() {
		t.Error("missing and wrong records, but NeedsWork is false")
	}
}

// The class of "will break later" and "cannot tell": a TLSA that matches a
// certificate about to be renewed from a file warns; a SERVFAIL is an
// error, never "missing"; a PTR that does not resolve back is wrong; an SPF
// that fails for the sending address says which.
func TestCheckWarnsAndNeverGuesses(t *testing.T) {
	f := newFixture(t, time.Now().Add(10*24*time.Hour))
	f.dns.MustAdd(
		"mail.example.net. A 192.0.2.10",
		`example.org. TXT "v=spf1 ip4:198.51.100.1 -all"`,
		"_25._tcp.mail.example.net. TLSA "+f.tlsa,
		"10.2.0.192.in-addr.arpa. PTR elsewhere.example.com.",
		"elsewhere.example.com. A 203.0.113.5",
	)
	f.dns.ServFail("_dmarc.example.org", true)
	got := byName(Check(context.Background(), FromConfig(f.cfg), "example.org"))
	if r := got["TLSA _25._tcp.mail.example.net"]; r.Status != Warning || !strings.Contains(r.Why, "reuse-key") {
		t.Errorf("TLSA before a file certificate's renewal: %+v", r)
	}
	if r := got["DMARC _dmarc.example.org"]; r.Status != Error || !strings.Contains(r.Why, "SERVFAIL") {
		t.Errorf("SERVFAIL: %+v", r)
	}
	if r := got["PTR 10.2.0.192.in-addr.arpa"]; r.Status != Wrong || !strings.Contains(r.Why, "does not resolve back to 192.0.2.10") {
		t.Errorf("PTR: %+v", r)
	}
	if r := got["SPF example.org"]; r.Status != Wrong || !strings.Contains(r.Why, "192.0.2.10 (fail)") || !strings.Contains(r.Want, "ip4:192.0.2.10") {
		t.Errorf("SPF: %+v", r)
	}
	if r := got["MX example.org"]; r.Status != Missing || r.Want != "example.org. 3600 IN MX 10 mail.example.net." {
		t.Errorf("MX: %+v", r)
	}
}

func TestCheckTLSRPTSyntax(t *testing.T) {
	for rec, ok := range map[string]bool{
		"v=TLSRPTv1; rua=mailto:a@example.org":                      true,
		"v=TLSRPTv1;rua=mailto:a@example.org,https://r.example/tls": true,
		"v=TLSRPTv1; rua=ftp://x":                                   false,
		"v=TLSRPTv1":                                                false,
		"rua=mailto:a@example.org; v=TLSRPTv1":                      false,
	} {
		if got := checkTLSRPT(rec) == ""; got != ok {
			t.Errorf("%q: valid %v, want %v", rec, got, ok)
		}
	}
}

// A DMARC rua outside the domain's organisation needs that domain's
// authorisation (RFC 7489 §7.1); with a validating resolver, TLSA records
// that are not DNSSEC-validated do not count (RFC 7672 §2.2).
func TestReportsAndDANEChecks(t *testing.T) {
	f := newFixture(t, time.Now().Add(80*24*time.Hour))
	f.dns.MustAdd(`_dmarc.example.org. TXT "v=DMARC1; p=none; rua=mailto:a@example.org,mailto:agg@reports.test,mailto:x@ok.test"`,
		`example.org._report._dmarc.ok.test. TXT "v=DMARC1"`,
		"_25._tcp.mail.example.net. TLSA "+f.tlsa)
	o := FromConfig(f.cfg)
	r := o.dmarc(context.Background(), "example.org")
	if r.Status != Warning || !strings.Contains(r.Why, "rua agg@reports.test is outside example.org's organisation") || strings.Contains(r.Why, "ok.test") ||
		!strings.Contains(r.Want, `example.org._report._dmarc.reports.test. 3600 IN TXT "v=DMARC1"`) {
		t.Errorf("dmarc %+v", r)
	}
	if tl := o.tlsa(context.Background()); tl[0].Status != OK {
		t.Errorf("tlsa without dns.dnssec: %+v", tl)
	}
	f.cfg.DNS.DNSSEC = true
	o = FromConfig(f.cfg)
	if tl := o.tlsa(context.Background()); tl[0].Status != Wrong || !strings.Contains(tl[0].Why, "not DNSSEC-validated") {
		t.Errorf("insecure tlsa: %+v", tl)
	}
	f.dns.Secure("example.net", true)
	if tl := o.tlsa(context.Background()); tl[0].Status != OK {
		t.Errorf("secure tlsa: %+v", tl)
	}
}

// ebb dns check's exit code: 1 when a record is missing or wrong, 75 when
// a lookup failed (a resolver that does not answer), and a name that is no
// domain is refused before anything is looked up.
func TestCheckDomainsExitCode(t *testing.T) {
	f := newFixture(t, time.Now().Add(80*24*time.Hour))
	o := FromConfig(f.cfg)
	ctx := context.Background()
	reps, code, err := CheckDomains(ctx, o, []string{"Example.ORG", "example.com"})
	if err != nil || code != 1 || len(reps) != 2 || reps[0].Domain != "example.org" || reps[1].Domain != "example.com" {
		t.Fatalf("nothing published: exit %d, %v, %+v", code, err, reps)
	}
	var b bytes.Buffer
	WriteTexts(&b, reps)
	if n := strings.Count(b.String(), "\n\n"); n < 1 || !strings.Contains(b.String(), "example.com") {
		t.Errorf("two reports, %d blank lines:\n%s", n, b.String())
	}
	if _, _, err := CheckDomains(ctx, o, []string{"example.org", "bad..name"}); err == nil || !strings.Contains(err.Error(), "bad..name") {
		t.Errorf("a bad name: %v", err)
	}
	if reps, code, err := CheckDomains(ctx, o, nil); err != nil || code != 0 || reps == nil || len(reps) != 0 {
		t.Errorf("no domain: %v %d %v (JSON must say [])", reps, code, err)
	}
	f.dns.Close() // nobody answers now: a lookup fails
	o.Client = dnsresolve.NewClient(f.cfg)
	if _, code, err := CheckDomains(ctx, o, []string{"example.org"}); err != nil || code != 75 {
		t.Errorf("resolver down: exit %d, %v; want 75", code, err)
	}
}
