package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/acme"
	"github.com/ebbmail/ebb/internal/dnscheck"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/dnstest"
	"github.com/ebbmail/ebb/internal/mtasts"
	"github.com/ebbmail/ebb/internal/wellknown"
	"github.com/ebbmail/ebb/test/harness"
)

// acmeServe is an ebb serve with ACME against Pebble, HTTPS and HTTP on
// Pebble's validation ports, and example.test hosted.
type acmeServe struct {
	t       *testing.T
	dir     string
	conf    string
	smtp    string
	sub     string
	metrics string
	pebble  *harness.Pebble
	srv     *harness.Serve
	daemon  harness.User
	dns     *dnstest.Server
}

func startACMEServe(t *testing.T) *acmeServe {
	t.Helper()
	harness.RequireRoot(t)
	dns := harness.StartDNS(t)
	dns.MustAdd("mail.example.test. A 127.0.0.1", "mta-sts.example.test. A 127.0.0.1", "autoconfig.example.test. A 127.0.0.1",
		"example.test. MX 10 mail.example.test.",
		// broken.test: the CA cannot connect to its mta-sts name, and
		// its autoconfig name has no address at all.
		"mta-sts.broken.test. A 127.0.0.3")
	pb := harness.StartPebble(t, dns.Addr())
	e := &acmeServe{t: t, dir: harness.Dir(t), pebble: pb, daemon: harness.EnsureUser(t, "ebbvmail"), dns: dns}
	e.conf = filepath.Join(e.dir, "ebb.toml")
	e.smtp = fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	e.sub = fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	e.metrics = fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	conf := harness.ConfHead("mail.example.test", e.daemon.Name, e.dir) + fmt.Sprintf(`
[smtp]
listen = [%q]

[submission]
listen_tls = [%q]

[sendmail]
pickup_dir = %q

[metrics]
listen = %q

[dns]
resolver = %q
timeout = "2s"

[acme]
enable = true
directory_url = %q
ca_file = %q
email = "postmaster@example.test"
retry_min = "1s"

[web]
listen = ["127.0.0.1:%d"]
listen_http = ["127.0.0.1:%d"]
mta_sts_mode = "enforce"
mta_sts_max_age = "1d"
`, e.smtp, e.sub, filepath.Join(e.dir, "pickup"), e.metrics, dns.Addr(), pb.DirectoryURL, pb.CAFile, pb.TLSPort, pb.HTTPPort)
	if err := os.WriteFile(e.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data", "mail"} {
		os.MkdirAll(filepath.Join(e.dir, d), 0o755)
		harness.Chown(t, filepath.Join(e.dir, d), e.daemon)
	}
	harness.EbbAs(t, e.daemon, nil, "domain", "add", "-c", e.conf, "example.test")
	harness.EbbAs(t, e.daemon, nil, "domain", "add", "-c", e.conf, "broken.test")
	e.srv = harness.StartServe(t, e.conf, filepath.Join(e.dir, "serve.log"))
	harness.WaitTCP(t, e.smtp, "220", 20*time.Second)
	return e
}

// waitStored waits until state.json of each name says a certificate was
// stored.
func (e *acmeServe) waitStored(names ...string) map[string]*acme.State {
	e.t.Helper()
	var states map[string]*acme.State
	stored := func() bool {
		states, _ = acme.ReadStates(filepath.Join(e.dir, "data", "acme"))
		for _, n := range names {
			if st := states[n]; st == nil || st.Issued.IsZero() {
				return false
			}
		}
		return true
	}
	if !harness.WaitOn(90*time.Second, stored, e.certDirs(names...)...) {
		e.t.Fatalf("no certificates for %v within 90s: %+v\nlog:\n%s", names, states, harness.Tail(e.srv.Log(), 40))
	}
	return states
}

// certDirs are where the state of names is stored.
func (e *acmeServe) certDirs(names ...string) []string {
	var dirs []string
	for _, n := range names {
		dirs = append(dirs, filepath.Join(e.dir, "data", "acme", "certs", n))
	}
	return dirs
}

// starttlsLeaf is the certificate ebb's port 25 shows after STARTTLS.
func starttlsLeaf(t *testing.T, addr string) *tls.ConnectionState {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{ServerName: "mail.example.test", InsecureSkipVerify: true}); err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	st, _ := c.TLSConnectionState()
	return &st
}

// httpsTo is a client that reaches every name at 127.0.0.1:port and
// verifies against pool.
func httpsTo(port int, e *acmeServe) *http.Client {
	pool := e.pebble.RootPool(e.t)
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// ebb serve with acme.enable: Pebble validates ebb on loopback and issues
// the server's certificate and the mta-sts./autoconfig. ones; STARTTLS and
// submission switch from the provisional certificate to the CA's without a
// restart; the keys are 0600 and the daemon's; the policy, fetched over
// HTTPS by ebb's own MTA-STS client, is the one the settings say; the
// autoconfig is what Thunderbird reads; plain HTTP redirects; the expiry
// is a metric.
func TestServeWithACMEAgainstPebble(t *testing.T) {
	t.Parallel()
	e := startACMEServe(t)
	states := e.waitStored("mail.example.test", "mta-sts.example.test", "autoconfig.example.test")
	roots := e.pebble.RootPool(t)

	// STARTTLS on 25 and implicit TLS on 465 end up with the CA's
	// certificate: the Issued callback replaces the provisional one, and
	// logs it once done.
	harness.WaitLogFile(t, e.srv.LogPath, "acme: STARTTLS and submission use the new certificate", 1, 30*time.Second)
	st := starttlsLeaf(t, e.smtp)
	leaf := st.PeerCertificates[0]
	if _, err := leaf.Verify(x509VerifyOpts(roots, "mail.example.test", st)); err != nil {
		t.Fatalf("STARTTLS still offers %q (issuer %q): %v", leaf.Subject, leaf.Issuer, err)
	}
	if !leaf.NotAfter.Equal(states["mail.example.test"].NotAfter) {
		t.Errorf("STARTTLS certificate ends %s, the stored one %s", leaf.NotAfter, states["mail.example.test"].NotAfter)
	}
	conn, err := tls.Dial("tcp", e.sub, &tls.Config{ServerName: "mail.example.test", RootCAs: roots})
	if err != nil {
		t.Fatalf("submission on implicit TLS does not verify with the ACME certificate: %v", err)
	}
	conn.Close()

	// Keys: 0600, owned by server.user; the account key too.
	for _, p := range []string{"account.key", "certs/mail.example.test/key.pem", "certs/mail.example.test/next-key.pem", "certs/mta-sts.example.test/key.pem"} {
		path := filepath.Join(e.dir, "data", "acme", p)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != 0o600 || int(st.Uid) != e.daemon.UID {
			t.Errorf("%s: mode %v uid %d, want 0600 uid %d", p, fi.Mode().Perm(), st.Uid, e.daemon.UID)
		}
	}

	// ebb's own MTA-STS client fetches the policy over HTTPS from the
	// listener, as it would any other domain's.
	text, id, _ := wellknown.PolicyText(wellknown.Settings{MTASTSMode: "enforce", MTASTSMX: []string{"mail.example.test"}, MTASTSMaxAge: 24 * time.Hour})
	e.dns.MustAdd(`_mta-sts.example.test. TXT "` + wellknown.MTASTSRecord(id) + `"`)
	cache := mtasts.NewCache(mtasts.Options{Resolver: dnsresolve.NewAt(e.dns.Addr(), 2*time.Second), RootCAs: roots, Port: e.pebble.TLSPort})
	pol, err := cache.Get(context.Background(), "example.test")
	if err != nil || pol == nil {
		t.Fatalf("MTA-STS fetch of example.test's policy from ebb: %v", err)
	}
	if pol.Mode != mtasts.Enforce || pol.ID != id || pol.MaxAge != 24*time.Hour || !pol.Matches("mail.example.test") || pol.Matches("other.example.test") {
		t.Errorf("policy fetched: %+v (served:\n%s)", pol, text)
	}

	// Thunderbird's two URLs give the same document, one Thunderbird
	// accepts.
	hc := httpsTo(e.pebble.TLSPort, e)
	for _, u := range []string{"https://autoconfig.example.test/mail/config-v1.1.xml?emailaddress=alice%40example.test",
		"https://mta-sts.example.test/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=bob%40example.test"} {
		body := get(t, hc, u, 200)
		if err := thunderbirdReads(body, "example.test"); err != nil {
			t.Errorf("%s: Thunderbird would refuse it: %v\n%s", u, err, body)
		}
		if !strings.Contains(body, "<port>"+portOf(e.sub)+"</port>") || strings.Contains(body, "STARTTLS") {
			t.Errorf("%s does not offer submission on %s with implicit TLS:\n%s", u, e.sub, body)
		}
	}
	resp, err := hc.Post("https://autoconfig.example.test/autodiscover/autodiscover.xml", "text/xml",
		strings.NewReader(`<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>alice@example.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "<Server>mail.example.test</Server>") || !strings.Contains(string(b), "<Port>"+portOf(e.sub)+"</Port>") {
		t.Errorf("autodiscover: %d\n%s", resp.StatusCode, b)
	}

	// Plain HTTP: a redirect to the HTTPS port.
	hp := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = hp.Get(fmt.Sprintf("http://127.0.0.1:%d/mail/config-v1.1.xml", e.pebble.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "https://127.0.0.1:"+strconv.Itoa(e.pebble.TLSPort)+"/mail/config-v1.1.xml" {
		t.Errorf("HTTP: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// ebb dns check asks for the TLSA records of the current and the
	// next key, the policy's id, and says what is right.
	r := harness.Run(t, exec.Command(harness.Ebb(t), "dns", "check", "-c", e.conf, "example.test"), nil)
	cur, next, _, err := acme.Store{Dir: filepath.Join(e.dir, "data", "acme")}.PublicKeys("mail.example.test")
	if err != nil || next == nil {
		t.Fatalf("keys: %v", err)
	}
	curData, _ := dnscheck.TLSAData(cur)
	nextData, _ := dnscheck.TLSAData(next)
	for _, w := range []string{
		"OK       MX       example.test MX",
		"OK       MTA-STS  _mta-sts.example.test TXT",
		"OK       MTA-STS  mta-sts.example.test A/AAAA",
		"INFO     TLSA     _25._tcp.mail.example.test TLSA",
		"publish: _25._tcp.mail.example.test. 3600 IN TLSA " + curData,
		"publish: _25._tcp.mail.example.test. 3600 IN TLSA " + nextData,
		"MISSING  DMARC    _dmarc.example.test TXT",
	} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("ebb dns check lacks %q:\n%s%s", w, r.Stdout, r.Stderr)
		}
	}
	if r.Code != 1 {
		t.Errorf("ebb dns check exit %d with records missing, want 1", r.Code)
	}

	m := get(t, http.DefaultClient, "http://"+e.metrics+"/metrics", 200)
	want := fmt.Sprintf(`ebb_tls_certificate_expiry_timestamp_seconds{name="mail.example.test",source="acme"} %s`, promFloat(states["mail.example.test"].NotAfter.Unix()))
	for _, w := range []string{want, `ebb_acme_orders_total{result="issued"} 3`, `ebb_acme_consecutive_failures{name="mta-sts.example.test"} 0`,
		`ebb_web_requests_total{code="OK",document="mta-sts"} 1`, `ebb_web_requests_total{code="OK",document="autoconfig"} 2`} {
		if !strings.Contains(m, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
}

// A failing order is a log line and a doctor finding with the CA's own
// words and the fix; the certificates that work are doctor's ok lines.
func TestServeWithACMEFailureIsReportedWithTheCAsWords(t *testing.T) {
	t.Parallel()
	e := startACMEServe(t)
	e.waitStored("mail.example.test", "mta-sts.example.test", "autoconfig.example.test")
	var states map[string]*acme.State
	if !harness.WaitOn(60*time.Second, func() bool {
		states, _ = acme.ReadStates(filepath.Join(e.dir, "data", "acme"))
		st := states["mta-sts.broken.test"]
		return st != nil && st.LastError != nil && states["autoconfig.broken.test"] != nil && states["autoconfig.broken.test"].LastError != nil
	}, e.certDirs("mta-sts.broken.test", "autoconfig.broken.test")...) {
		t.Fatalf("no failure recorded for broken.test: %+v\n%s", states, harness.Tail(e.srv.Log(), 30))
	}
	log := e.srv.Log()
	for _, w := range []string{"acme: no certificate", "Failed to connect to 127.0.0.3", "could not connect to mta-sts.broken.test on port 443 (web.listen, tls-alpn-01)"} {
		if !strings.Contains(log, w) {
			t.Errorf("the log lacks %q:\n%s", w, harness.Tail(log, 30))
		}
	}
	m := get(t, http.DefaultClient, "http://"+e.metrics+"/metrics", 200)
	if !regexp.MustCompile(`ebb_acme_consecutive_failures\{name="mta-sts.broken.test"\} [1-9]`).MatchString(m) ||
		!regexp.MustCompile(`ebb_acme_orders_total\{result="failed"\} [1-9]`).MatchString(m) {
		t.Errorf("the failures are not in the metrics:\n%s", m)
	}
	// The queue page shows every certificate, the failing one with the
	// CA's words.
	page := get(t, http.DefaultClient, "http://"+e.metrics+"/", 200)
	for _, w := range []string{`<table id="certs">`, "mail.example.test", "the CA said: unauthorized: Failed to connect to 127.0.0.3"} {
		if !strings.Contains(page, w) {
			t.Errorf("the queue page lacks %q", w)
		}
	}
	r := harness.Run(t, exec.Command(harness.Ebb(t), "doctor", "-c", e.conf), nil)
	out := r.Stdout
	if r.Code != 1 {
		t.Errorf("doctor exit %d, want 1 (certificates missing)", r.Code)
	}
	for _, w := range []string{
		"ok    acme             mail.example.test: valid until",
		"ok    acme             mta-sts.example.test: valid until",
		"FAIL  acme             ebb doctor: cannot obtain a certificate for mta-sts.broken.test from " + e.pebble.DirectoryURL,
		"ok    smtp.tls         acme: STARTTLS uses the server's ACME certificate",
		"ok    submission.tls   acme: submission uses the server's ACME certificate",
		"the CA said: unauthorized: Failed to connect to 127.0.0.3",
		"autoconfig.broken.test has no A/AAAA record",
		"publish an A/AAAA record (or a CNAME to this host) for autoconfig.broken.test",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("doctor lacks %q:\n%s", w, out)
		}
	}
}

func promFloat(n int64) string {
	return strconv.FormatFloat(float64(n), 'e', -1, 64)
}

func get(t *testing.T, c *http.Client, u string, code int) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code {
		t.Fatalf("GET %s: %d, want %d\n%s", u, resp.StatusCode, code, b)
	}
	return string(b)
}

// thunderbirdReads applies the rules of Thunderbird's reader of
// config-v1.1.xml (comm-central mail/components/accountcreation/modules/
// readFromXML.sys.mjs): a clientConfig with an emailProvider whose id is a
// host name and which has a domain; at least one incomingServer of type
// pop3/imap/nntp/exchange and one outgoingServer of type smtp, each with a
// host name, a port in 1..65535, a socketType of plain/SSL/STARTTLS, an
// authentication Thunderbird maps, and a username (required for password
// authentication).
func thunderbirdReads(doc, domain string) error {
	type server struct {
		Type       string   `xml:"type,attr"`
		Hostname   string   `xml:"hostname"`
		Port       string   `xml:"port"`
		SocketType []string `xml:"socketType"`
		Auth       []string `xml:"authentication"`
		Username   *string  `xml:"username"`
	}
	var c struct {
		XMLName  xml.Name `xml:"clientConfig"`
		Version  string   `xml:"version,attr"`
		Provider *struct {
			ID       string   `xml:"id,attr"`
			Domain   []string `xml:"domain"`
			Incoming []server `xml:"incomingServer"`
			Outgoing []server `xml:"outgoingServer"`
		} `xml:"emailProvider"`
	}
	if err := xml.Unmarshal([]byte(doc), &c); err != nil {
		return err
	}
	hostname := func(s string) bool {
		return s != "" && strings.Trim(strings.ToLower(s), "abcdefghijklmnopqrstuvwxyz0123456789.-") == ""
	}
	p := c.Provider
	switch {
	case c.Version != "1.1":
		return fmt.Errorf("version %q", c.Version)
	case p == nil:
		return errors.New("no emailProvider")
	case !hostname(p.ID):
		return fmt.Errorf("emailProvider id %q is not a host name", p.ID)
	case len(p.Domain) == 0 || p.Domain[0] != domain:
		return fmt.Errorf("domains %v", p.Domain)
	case len(p.Incoming) == 0 || len(p.Outgoing) == 0:
		return errors.New("need an incomingServer and an outgoingServer")
	}
	check := func(s server, types []string, auths []string) error {
		ok := false
		for _, t := range types {
			ok = ok || s.Type == t
		}
		if !ok {
			return fmt.Errorf("server type %q", s.Type)
		}
		if !hostname(s.Hostname) {
			return fmt.Errorf("hostname %q", s.Hostname)
		}
		if n, err := strconv.Atoi(s.Port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q", s.Port)
		}
		if len(s.SocketType) == 0 || (s.SocketType[0] != "plain" && s.SocketType[0] != "SSL" && s.SocketType[0] != "STARTTLS") {
			return fmt.Errorf("socketType %v", s.SocketType)
		}
		if len(s.Auth) == 0 {
			return errors.New("no authentication")
		}
		ok = false
		for _, a := range auths {
			ok = ok || s.Auth[0] == a
		}
		if !ok {
			return fmt.Errorf("authentication %q", s.Auth[0])
		}
		if (s.Auth[0] == "password-cleartext" || s.Auth[0] == "password-encrypted") && (s.Username == nil || *s.Username == "") {
			return errors.New("password authentication without a username")
		}
		return nil
	}
	for _, s := range p.Incoming {
		if err := check(s, []string{"pop3", "imap", "nntp", "exchange"}, []string{"password-cleartext", "plain", "password-encrypted", "secure", "GSSAPI", "NTLM", "OAuth2"}); err != nil {
			return fmt.Errorf("incomingServer: %w", err)
		}
	}
	for _, s := range p.Outgoing {
		if err := check(s, []string{"smtp"}, []string{"none", "client-IP-address", "smtp-after-pop", "password-cleartext", "plain", "password-encrypted", "secure", "GSSAPI", "NTLM", "OAuth2"}); err != nil {
			return fmt.Errorf("outgoingServer: %w", err)
		}
	}
	return nil
}

// x509VerifyOpts verifies a peer's leaf against roots with the chain it
// sent.
func x509VerifyOpts(roots *x509.CertPool, name string, st *tls.ConnectionState) x509.VerifyOptions {
	inter := x509.NewCertPool()
	for _, c := range st.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	return x509.VerifyOptions{Roots: roots, DNSName: name, Intermediates: inter}
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
