package relay

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/dane"
	"github.com/ebbmail/ebb/test/harness"
)

// daneCert writes a certificate for name (self-signed, or signed by ca
// with the CA after the leaf in the file) and its key, and returns the
// files and the parsed leaf.
func daneCert(t *testing.T, dir, name string, ca *daneCA) (certFile, keyFile string, leaf *x509.Certificate) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, signer := tmpl, any(k)
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ = x509.ParseCertificate(der)
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if ca != nil {
		pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})...)
	}
	kd, _ := x509.MarshalECPrivateKey(k)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pemData, 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	return certFile, keyFile, leaf
}

type daneCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newDANECA(t *testing.T) *daneCA {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "ebb DANE test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &daneCA{cert: c, key: k}
}

// DANE against the real thing: zones signed by ldns-signzone, served by
// NSD, validated by unbound that trusts the test root's key, and a real
// Postfix with one certificate per address. ebb (dns.dnssec = true)
// delivers to the hosts whose certificate their TLSA records match
// (DANE-EE and DANE-TA), opportunistically where the zone is not signed,
// and defers where the record does not match (never falling back to the
// clear) or the zone's signatures do not validate, saying why in mailq;
// explain, the log and ebb route name the policy; following mailq's fix
// (dane.exempt) delivers the deferred one.
func TestDANEAgainstSignedZones(t *testing.T) {
	t.Parallel()
	harness.RequireRoot(t)
	T := harness.Dir(t)
	ips := []string{"127.0.0.2", "127.0.0.31", "127.0.0.32", "127.0.0.33"}
	port := harness.CommonPort(t, ips...)
	ca := newDANECA(t)
	certA, keyA, leafA := daneCert(t, filepath.Join(T, "a"), "mx.good.dane.test", nil)
	certB, keyB, _ := daneCert(t, filepath.Join(T, "b"), "mx.bad.dane.test", nil)
	certTA, keyTA, _ := daneCert(t, filepath.Join(T, "ta"), "mx.ta.dane.test", ca)
	eeA := "3 1 1 " + dane.Data(leafA, dane.SelSPKI, dane.MatchSHA256)
	taCA := "2 0 1 " + dane.Data(ca.cert, dane.SelCert, dane.MatchSHA256)
	dns := harness.StartSignedDNS(t,
		harness.Zone{Name: "dane.test", Kind: harness.Signed, Records: []string{
			"good.dane.test. MX 10 mx.good.dane.test.", "mx.good.dane.test. A 127.0.0.31", "_25._tcp.mx.good.dane.test. TLSA " + eeA,
			"ta.dane.test. MX 10 mx.ta.dane.test.", "mx.ta.dane.test. A 127.0.0.33", "_25._tcp.mx.ta.dane.test. TLSA " + taCA,
			// The record names A's key; the host presents B.
			"bad.dane.test. MX 10 mx.bad.dane.test.", "mx.bad.dane.test. A 127.0.0.32", "_25._tcp.mx.bad.dane.test. TLSA " + eeA,
		}},
		// Not signed: the same mismatching record does not count.
		harness.Zone{Name: "insecure.test", Kind: harness.Insecure, Records: []string{
			"insecure.test. MX 10 mx.insecure.test.", "mx.insecure.test. A 127.0.0.32", "_25._tcp.mx.insecure.test. TLSA " + eeA,
		}},
		// Signed, but the root's DS names another key: unbound answers
		// SERVFAIL.
		harness.Zone{Name: "bogus.test", Kind: harness.Bogus, Records: []string{
			"bogus.test. MX 10 mx.bogus.test.", "mx.bogus.test. A 127.0.0.31",
		}},
	)
	pf := startPostfix(t, []postfixListener{
		{Addr: fmt.Sprintf("127.0.0.31:%d", port), Cert: certA, Key: keyA},
		{Addr: fmt.Sprintf("127.0.0.32:%d", port), Cert: certB, Key: keyB},
		{Addr: fmt.Sprintf("127.0.0.33:%d", port), Cert: certTA, Key: keyTA},
	}, []string{"good.dane.test", "ta.dane.test", "bad.dane.test", "insecure.test", "bogus.test"})
	one := harness.NewOutInstance(t, harness.OutOpts{Domain: "one.example", IP: "127.0.0.2", Port: port, DNS: dns.Addr, RelayPort: port,
		Users: []string{"alice"}, DNSKeys: "dnssec = true"})
	for _, d := range []string{"good.dane.test", "ta.dane.test", "bad.dane.test", "insecure.test", "bogus.test"} {
		one.Submit("alice@one.example", "bob@"+d, "to "+d)
	}
	mailbox := filepath.Join(pf.Mail, "pf.example", "bob", "new")
	waitFiles := func(n int) []string {
		t.Helper()
		if !harness.WaitFiles(mailbox, n, 30*time.Second) {
			files, _ := filepath.Glob(filepath.Join(mailbox, "*"))
			t.Fatalf("postfix has %d messages, want %d; its log:\n%s\nebb's:\n%s", len(files), n, harness.Tail(pf.log(), 30), harness.Tail(one.Log(), 30))
		}
		files, _ := filepath.Glob(filepath.Join(mailbox, "*"))
		return files
	}
	files := waitFiles(3)
	subjects := map[string]bool{}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, d := range []string{"good.dane.test", "ta.dane.test", "insecure.test"} {
			if strings.Contains(string(b), "Subject: to "+d) && strings.Contains(string(b), "with ESMTPS") {
				subjects[d] = true
			}
		}
	}
	if len(subjects) != 3 {
		t.Errorf("delivered over TLS: %v", subjects)
	}
	q := one.WaitMailq(30*time.Second, "DANE: no TLSA record matches", "MX lookup of bogus.test")
	for _, want := range []string{
		"mx.bad.dane.test[127.0.0.32] at STARTTLS: TLS handshake: DANE: no TLSA record matches the certificate chain",
		"DANE applies: _25._tcp.mx.bad.dane.test has DNSSEC-validated TLSA records, RFC 7672",
		`set dane.exempt = ["bad.dane.test"] in ` + one.Conf,
		"MX lookup of bogus.test: server answered SERVFAIL",
		"dns.resolver validates DNSSEC (dns.dnssec): it answers SERVFAIL when the domain's signatures do not validate",
	} {
		if !strings.Contains(q, want) {
			t.Errorf("mailq lacks %q:\n%s", want, q)
		}
	}
	log := one.Log()
	for _, want := range []string{
		`rcpt=bob@good.dane.test host=mx.good.dane.test ip=127.0.0.31 tls="TLS 1.3`,
		`tls_level=dane tls_policy="DANE: DANE-EE(3) SPKI(1) SHA2-256(1) (3 1 1`,
		`tls_policy="DANE: DANE-TA(2) Cert(0) SHA2-256(1) (2 0 1`,
		`rcpt=bob@insecure.test host=mx.insecure.test ip=127.0.0.32 tls="TLS 1.3`,
		`tls_policy="opportunistic TLS (relay.tls = may), certificate not checked"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, harness.Tail(log, 40))
		}
	}
	if strings.Contains(pf.log(), "bad.dane.test") && strings.Contains(pf.log(), "status=sent") && strings.Contains(pf.log(), "to=<bob@bad.dane.test>") {
		t.Errorf("bad.dane.test reached postfix:\n%s", harness.Tail(pf.log(), 30))
	}
	ex := harness.Run(t, exec.Command(harness.Ebb(t), "explain", "-c", one.Conf, "bob@good.dane.test"), nil)
	id := ""
	for _, f := range strings.Fields(ex.Stdout) {
		if len(f) > 10 && strings.ToUpper(f) == f && !strings.ContainsAny(f, "<>@:") {
			id = f
			break
		}
	}
	story := harness.Run(t, exec.Command(harness.Ebb(t), "explain", "-c", one.Conf, id), nil).Stdout
	if !strings.Contains(story, "relayed to mx.good.dane.test[127.0.0.31] over TLS 1.3") ||
		!strings.Contains(story, "TLS policy: DANE: DANE-EE(3) SPKI(1) SHA2-256(1)") {
		t.Errorf("explain %s (%s):\n%s\n%s", id, ex.Stdout, story, ex.Stderr)
	}
	routeOf := func(rcpt string) string {
		r := harness.Run(t, exec.Command(harness.Ebb(t), "route", "-c", one.Conf, "--port", "587", "--auth", "alice@one.example",
			"--from", "alice@one.example", "--to", rcpt), nil)
		return r.Stdout + r.Stderr
	}
	route := routeOf("bob@good.dane.test")
	if !strings.Contains(route, "DANE: TLS required, authenticated by the TLSA records at _25._tcp.mx.good.dane.test (DNSSEC-validated)") ||
		!strings.Contains(route, eeA) {
		t.Errorf("route:\n%s", route)
	}
	route = routeOf("bob@insecure.test")
	if !strings.Contains(route, "DANE: does not apply: the MX records of insecure.test are not DNSSEC-validated") {
		t.Errorf("route:\n%s", route)
	}

	doc := harness.Run(t, exec.Command(harness.Ebb(t), "doctor", "-c", one.Conf), nil).Stdout
	if !strings.Contains(doc, "ok    dane             "+dns.Addr+": validates DNSSEC") {
		t.Errorf("doctor:\n%s", doc)
	}

	// Principle 2: mailq's fix, followed as it is written, delivers.
	f, err := os.OpenFile(one.Conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n[dane]\nexempt = [\"bad.dane.test\"]\n")
	f.Close()
	one.Restart()
	harness.Run(t, exec.Command(harness.Ebb(t), "queue", "flush", "-c", one.Conf, "--domain", "bad.dane.test"), nil)
	waitFiles(4)
	one.WaitMailq(20*time.Second, "<bob@bogus.test>")
	if strings.Contains(one.Mailq(), "bad.dane.test") {
		t.Errorf("still queued:\n%s", one.Mailq())
	}
	if !strings.Contains(one.Log(), `msg="DANE: TLSA records not applied, the domain is exempt"`) {
		t.Errorf("the exemption is not logged:\n%s", harness.Tail(one.Log(), 20))
	}
	// And said in the delivery's TLS policy (explain, mailq), not only
	// the log line and ebb_relay_dane_exempt_total (principle 7).
	if !strings.Contains(one.Log(), `; TLSA records of bad.dane.test's MX hosts not applied (dane.exempt lists bad.dane.test)"`) {
		t.Errorf("the delivery's tls_policy does not name the exemption:\n%s", harness.Tail(one.Log(), 20))
	}
}
