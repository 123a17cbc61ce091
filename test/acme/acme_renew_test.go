package acme

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/ebbmail/ebb/internal/acme"
	"github.com/ebbmail/ebb/internal/dnscheck"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/dnstest"
	"github.com/ebbmail/ebb/internal/servetest"
	"github.com/ebbmail/ebb/internal/wellknown"
	"github.com/ebbmail/ebb/test/harness"
)

// acmeRig is an in-process acme.Manager against a real Pebble, answering
// its challenges through wellknown.Server on Pebble's validation ports.
type acmeRig struct {
	t      *testing.T
	dns    *dnstest.Server
	pebble *harness.Pebble
	m      *acme.Manager
	dir    string
	clock  *servetest.Clock
	issued chan string
}

func newACMERig(t *testing.T, keep bool) *acmeRig { return newACMERigWith(t, keep, nil) }

// newACMERigWith is newACMERig with a DNS server of the test's own and a
// last word on the options (dns-01).
func newACMERigWith(t *testing.T, keep bool, withDNS func() (*dnstest.Server, func(*acme.Options))) *acmeRig {
	t.Helper()
	var dns *dnstest.Server
	set := func(*acme.Options) {}
	if withDNS != nil {
		dns, set = withDNS()
	} else {
		dns = harness.StartDNS(t)
	}
	pb := harness.StartPebble(t, dns.Addr())
	r := &acmeRig{t: t, dns: dns, pebble: pb, dir: harness.Dir(t), clock: servetest.NewClock(time.Now()), issued: make(chan string, 16)}
	ca, err := os.ReadFile(pb.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	o := acme.Options{
		DirectoryURL: pb.DirectoryURL, Dir: filepath.Join(r.dir, "acme"), KeyType: "ecdsa",
		RenewBefore: 30 * 24 * time.Hour, RetryMin: time.Minute, RetryMax: time.Hour, Timeout: time.Minute,
		Challenges: []string{"tls-alpn-01", "http-01"},
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		Resolver:   dnsresolve.NewAt(dns.Addr(), 2*time.Second),
		Issued:     func(name string) { r.issued <- name },
		Now:        r.clock.Now,
	}
	set(&o)
	if keep {
		o.KeepKey = dnscheck.KeepKeyForTLSA(dnsresolve.NewClientAt(dns.Addr(), 2*time.Second))
	}
	if r.m, err = acme.New(o); err != nil {
		t.Fatal(err)
	}
	web := wellknown.New(wellknown.Settings{MTASTSMode: "testing", MTASTSMaxAge: time.Hour})
	web.Domains = func(context.Context) ([]string, error) { return []string{"example.test"}, nil }
	web.GetCertificate, web.HTTP01 = r.m.GetCertificate, r.m.ServeHTTP01
	tl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", pb.TLSPort))
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", pb.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { web.Serve(ctx, []net.Listener{tl}, []net.Listener{hl}); close(served) }()
	ran := make(chan struct{})
	go func() { r.m.Run(ctx); close(ran) }()
	t.Cleanup(func() { cancel(); <-ran; <-served })
	return r
}

// waitIssued waits for the manager to store a certificate for each name.
func (r *acmeRig) waitIssued(names ...string) {
	r.t.Helper()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	timeout := time.After(90 * time.Second)
	for len(want) > 0 {
		select {
		case n := <-r.issued:
			delete(want, n)
		case <-timeout:
			var why []string
			for _, s := range r.m.Statuses() {
				if s.State.LastError != nil {
					why = append(why, fmt.Sprintf("%s: %+v", s.Name, *s.State.LastError))
				}
			}
			r.t.Fatalf("no certificate for %v within 90s; states: %+v\nerrors: %s", want, r.m.Statuses(), strings.Join(why, "\n"))
		}
	}
}

// waitFailure waits until the certificate of name has failed n times.
func (r *acmeRig) waitFailure(name string, n int) acme.State {
	r.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var st acme.State
	if harness.WaitOn(time.Until(deadline), func() bool {
		for _, s := range r.m.Statuses() {
			if s.Name == name && s.State.Failures >= n {
				st = s.State
				return true
			}
		}
		return false
	}, filepath.Join(r.dir, "acme", "certs", name)) {
		return st
	}
	r.t.Fatalf("%s has not failed %d times; states: %+v", name, n, r.m.Statuses())
	return acme.State{}
}

func (r *acmeRig) leaf(name string) *x509.Certificate {
	r.t.Helper()
	c := r.m.Certificate(name)
	if c == nil {
		r.t.Fatalf("no certificate for %s", name)
	}
	return c.Leaf
}

func (r *acmeRig) tlsaOf(path string) string {
	r.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		r.t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		r.t.Fatalf("%s: no PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		r.t.Fatalf("%s: %v", path, err)
	}
	d, err := dnscheck.TLSAData(k.(crypto.Signer).Public())
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

// Pebble issues ebb's certificates over tls-alpn-01 (the server's name)
// and keeps them: chained to Pebble's root, keys 0600, the certificate
// served by SNI on the HTTPS listener; a renewal at 30 days before the
// end moves to the pre-made next key.
func TestACMEIssuesAndRenewsAgainstPebble(t *testing.T) {
	t.Parallel()
	r := newACMERig(t, false)
	r.dns.MustAdd("mail.example.test. A 127.0.0.1", "mta-sts.example.test. A 127.0.0.1")
	r.m.SetWanted([]string{"mail.example.test"}, [][]string{{"mta-sts.example.test"}})
	r.waitIssued("mail.example.test", "mta-sts.example.test")

	roots := r.pebble.RootPool(t)
	for _, name := range []string{"mail.example.test", "mta-sts.example.test"} {
		st := r.m.Store()
		for path, mode := range map[string]os.FileMode{st.KeyFile(name): 0o600, st.NextKeyFile(name): 0o600, st.CertFile(name): 0o644} {
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != mode {
				t.Errorf("%s: %v, mode %v, want %v", path, err, fi.Mode().Perm(), mode)
			}
		}
		// Served by SNI, verifying against Pebble's root: the chain in
		// cert.pem is complete.
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.pebble.TLSPort), &tls.Config{ServerName: name, RootCAs: roots})
		if err != nil {
			t.Fatalf("TLS to the HTTPS listener as %s: %v", name, err)
		}
		got := conn.ConnectionState().PeerCertificates[0]
		conn.Close()
		if got.Subject.CommonName != name && (len(got.DNSNames) == 0 || got.DNSNames[0] != name) {
			t.Errorf("SNI %s got a certificate for %v", name, got.DNSNames)
		}
	}

	first := r.leaf("mail.example.test")
	nextTLSA := r.tlsaOf(r.m.Store().NextKeyFile("mail.example.test"))
	// Not due yet: a day later nothing is ordered.
	r.clock.Add(24 * time.Hour)
	r.m.Wake()
	select {
	case n := <-r.issued:
		t.Fatalf("%s renewed a day after issuance", n)
	case <-time.After(time.Second):
	}
	// 29 days before the end: due.
	r.clock.Add(first.NotAfter.Sub(r.clock.Now()) - 29*24*time.Hour)
	r.m.Wake()
	r.waitIssued("mail.example.test", "mta-sts.example.test")
	second := r.leaf("mail.example.test")
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("the renewal kept the old certificate")
	}
	if got, _ := dnscheck.TLSAData(second.PublicKey); got != nextTLSA {
		t.Errorf("the renewed certificate's key is not the former next key: %s, want %s", got, nextTLSA)
	}
	if r.tlsaOf(r.m.Store().NextKeyFile("mail.example.test")) == nextTLSA {
		t.Error("no new next key after the rollover")
	}
	for _, s := range r.m.Statuses() {
		if s.State.Key != "next" || s.State.Failures != 0 || s.State.LastError != nil || s.NotAfter.Before(first.NotAfter) {
			t.Errorf("state after renewal: %+v", s.State)
		}
	}
}

// A published TLSA record (DANE-EE, SPKI, SHA-256) for the current key and
// none for the next: the renewal keeps the key, so that DANE senders do not
// break, and says why; once the next key's record is published too, the
// next renewal rolls to it.
func TestACMERenewalKeepsTheKeyATLSANames(t *testing.T) {
	t.Parallel()
	r := newACMERig(t, true)
	r.dns.MustAdd("mail.example.test. A 127.0.0.1")
	r.m.SetWanted([]string{"mail.example.test"}, nil)
	r.waitIssued("mail.example.test")
	first := r.leaf("mail.example.test")
	cur, _ := dnscheck.TLSAData(first.PublicKey)
	next := r.tlsaOf(r.m.Store().NextKeyFile("mail.example.test"))
	r.dns.MustAdd("_25._tcp.mail.example.test. TLSA " + cur)

	r.clock.Add(first.NotAfter.Sub(r.clock.Now()) - 29*24*time.Hour)
	r.m.Wake()
	r.waitIssued("mail.example.test")
	second := r.leaf("mail.example.test")
	if got, _ := dnscheck.TLSAData(second.PublicKey); got != cur || second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatalf("renewal with a TLSA for the current key only: key %s (want the current %s), serial changed: %v", got, cur, second.SerialNumber.Cmp(first.SerialNumber) != 0)
	}
	st := r.m.Statuses()[0].State
	if st.Key != "kept" || !strings.Contains(st.KeyWhy, "_25._tcp.mail.example.test names the current key but not the next one (publish "+next) {
		t.Errorf("state: key %q, why %q", st.Key, st.KeyWhy)
	}
	if r.tlsaOf(r.m.Store().NextKeyFile("mail.example.test")) != next {
		t.Error("the next key changed although it was not used")
	}

	r.dns.MustAdd("_25._tcp.mail.example.test. TLSA " + next)
	r.clock.Add(second.NotAfter.Sub(r.clock.Now()) - 29*24*time.Hour)
	r.m.Wake()
	r.waitIssued("mail.example.test")
	if got, _ := dnscheck.TLSAData(r.leaf("mail.example.test").PublicKey); got != next {
		t.Errorf("with both TLSA records published the renewal did not roll to the next key: %s", got)
	}
}

// A name whose address the CA cannot connect to: the order fails with
// Pebble's own problem document (type connection, its detail), the hint
// names the port and setting, the failure is kept in state.json and
// retried after acme.retry_min, doubling; fixed DNS and a RetryNow (SIGHUP)
// get the certificate. A name without any address is not ordered at all.
func TestACMEFailureKeepsTheCAsWordsAndBacksOff(t *testing.T) {
	t.Parallel()
	r := newACMERig(t, false)
	r.dns.MustAdd("mail.example.test. A 127.0.0.1", "mta-sts.broken.test. A 127.0.0.3")
	r.m.SetWanted([]string{"mail.example.test"}, [][]string{{"mta-sts.broken.test"}, {"autoconfig.nodns.test"}})
	r.waitIssued("mail.example.test")

	st := r.waitFailure("mta-sts.broken.test", 1)
	f := st.LastError
	if f == nil || f.Problem == nil {
		t.Fatalf("no problem document kept: %+v", st)
	}
	// Boulder says connection, Pebble unauthorized "Failed to connect".
	if (f.Problem.Type != "urn:ietf:params:acme:error:connection" && f.Problem.Type != "urn:ietf:params:acme:error:unauthorized") ||
		!strings.Contains(f.Problem.Detail, "127.0.0.3") {
		t.Errorf("problem: %+v", f.Problem)
	}
	if f.Stage != "challenge" || f.Name != "mta-sts.broken.test" || !strings.Contains(f.Hint, "could not connect to mta-sts.broken.test on port 443 (web.listen, tls-alpn-01)") {
		t.Errorf("failure: %+v", f)
	}
	if d := st.NextAttempt.Sub(st.LastAttempt); d != time.Minute {
		t.Errorf("first retry after %s, want acme.retry_min (1m)", d)
	}
	// state.json is written right after the state in memory.
	var states map[string]*acme.State
	var err error
	if !harness.WaitOn(10*time.Second, func() bool {
		states, err = acme.ReadStates(filepath.Join(r.dir, "acme"))
		st := states["mta-sts.broken.test"]
		return err == nil && st != nil && st.LastError != nil && st.LastError.Problem != nil && st.LastError.Problem.Detail == f.Problem.Detail
	}, filepath.Join(r.dir, "acme", "certs", "mta-sts.broken.test")) {
		t.Fatalf("state.json does not keep the CA's words: %v %+v", err, states["mta-sts.broken.test"])
	}

	nodns := r.waitFailure("autoconfig.nodns.test", 1).LastError
	if nodns.Stage != "dns" || nodns.Problem != nil || !strings.Contains(nodns.Message, "autoconfig.nodns.test has no A/AAAA record") ||
		!strings.Contains(nodns.Hint, "ebb dns check") {
		t.Errorf("a name without an address: %+v", nodns)
	}

	// The second failure waits twice as long.
	r.clock.Add(time.Minute)
	r.m.Wake()
	st = r.waitFailure("mta-sts.broken.test", 2)
	if d := st.NextAttempt.Sub(st.LastAttempt); d != 2*time.Minute {
		t.Errorf("second retry after %s, want 2m", d)
	}

	r.dns.Remove("mta-sts.broken.test.", 0)
	r.dns.MustAdd("mta-sts.broken.test. A 127.0.0.1", "autoconfig.nodns.test. A 127.0.0.1")
	r.m.RetryNow()
	r.waitIssued("mta-sts.broken.test", "autoconfig.nodns.test")
	for _, s := range r.m.Statuses() {
		if s.State.Failures != 0 || s.State.LastError != nil {
			t.Errorf("%s after success: %+v", s.Name, s.State)
		}
	}
}

// dns-01 by RFC 2136: ebb adds _acme-challenge.NAME TXT with a
// TSIG-signed update at the zone's primary (found by its SOA), Pebble reads
// it there, and ebb removes it afterwards. A wrong TSIG secret is refused
// by the server, and the failure says so.
func TestACMEDNS01ByRFC2136AgainstPebble(t *testing.T) {
	t.Parallel()
	secret := base64.StdEncoding.EncodeToString([]byte("a test secret of thirty-two bytes"))
	var keyFile string
	var srv *dnstest.Server
	r := newACMERigWith(t, false, func() (*dnstest.Server, func(*acme.Options)) {
		var err error
		if srv, err = dnstest.StartUpdatable("ebb-acme", secret); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		keyFile = filepath.Join(harness.Dir(t), "tsig.key")
		os.WriteFile(keyFile, []byte("key \"ebb-acme\" {\n\talgorithm hmac-sha256;\n\tsecret \""+secret+"\";\n};\n"), 0o600)
		u, err := acme.NewDNSUpdate(srv.Addr(), "ebb-acme", keyFile, "hmac-sha256", "", 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return srv, func(o *acme.Options) { o.Challenges, o.DNS01 = []string{"dns-01"}, u }
	})
	// An internal name: no address at all, only the zone.
	r.dns.MustAdd("internal.test. SOA ns.internal.test. hostmaster.internal.test. 1 3600 600 86400 60")
	r.m.SetWanted([]string{"mx.internal.test"}, nil)
	r.waitIssued("mx.internal.test")
	if n := srv.Updates(); n != 2 {
		t.Errorf("%d updates, want 2 (add, then remove)", n)
	}
	if q := srv.Queries("_acme-challenge.mx.internal.test", mdns.TypeTXT); q == 0 {
		t.Error("Pebble never asked for the TXT record")
	}
	if txt, err := dnsresolve.NewClientAt(srv.Addr(), 2*time.Second).LookupTXT(context.Background(), "_acme-challenge.mx.internal.test"); !dnsresolve.IsNotFound(err) {
		t.Errorf("the challenge record was not removed: %v %v", txt, err)
	}
	c := r.m.Certificate("mx.internal.test")
	inter := x509.NewCertPool()
	for _, der := range c.Certificate[1:] {
		ic, _ := x509.ParseCertificate(der)
		inter.AddCert(ic)
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: r.pebble.RootPool(t), DNSName: "mx.internal.test", Intermediates: inter}); err != nil {
		t.Errorf("the dns-01 certificate does not verify: %v", err)
	}

	// A secret the server does not know: NOTAUTH, said in the failure.
	bad := filepath.Join(harness.Dir(t), "bad.key")
	os.WriteFile(bad, []byte(base64.StdEncoding.EncodeToString([]byte("another secret entirely, 32 byte"))), 0o600)
	u, err := acme.NewDNSUpdate(srv.Addr(), "ebb-acme", bad, "hmac-sha256", "internal.test", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Present(context.Background(), "x.internal.test", "v"); err == nil || !strings.Contains(err.Error(), "NOTAUTH") {
		t.Errorf("an update with a wrong secret: %v", err)
	}
}
