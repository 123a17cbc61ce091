package relay

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/servetest"
	"github.com/ebbmail/ebb/test/harness"
)

// startPolicyHosts serves MTA-STS policies over HTTPS on 127.0.0.1 with a
// certificate of a test CA for mta-sts.DOMAIN of every domain given; it
// returns the port and the CA file (PEM, for mta_sts.ca_file).
func startPolicyHosts(t *testing.T, policies map[string]string) (int, string) {
	t.Helper()
	ca := servetest.NewCA(t)
	var names []string
	for d := range policies {
		names = append(names, "mta-sts."+d)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*ca.Leaf(t, names...)}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host // no port: the URL's is the RFC's 443
		if h, _, err := net.SplitHostPort(r.Host); err == nil {
			host = h
		}
		p, ok := policies[strings.TrimPrefix(host, "mta-sts.")]
		if !ok || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(p))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port, ca.File(t, harness.Dir(t))
}

// MTA-STS (RFC 8461) against MX hosts that are not in the policy: under
// enforce the delivery is deferred, and mailq says which MX failed and
// why; under testing the mail goes on and the mismatch is logged. The
// fetched policy is kept on disk in the data directory.
func TestMTASTSEnforceDefersAndTestingDelivers(t *testing.T) {
	t.Parallel()
	dns := harness.StartDNS(t)
	ips := []string{"127.0.0.2", "127.0.0.4", "127.0.0.5"}
	port := harness.CommonPort(t, ips...)
	at := func(ip string) string { return fmt.Sprintf("%s:%d", ip, port) }
	harness.StartSMTPSink(t, at("127.0.0.4"))
	harness.StartSMTPSink(t, at("127.0.0.5"))
	httpsPort, caFile := startPolicyHosts(t, map[string]string{
		"enforce.example":  "version: STSv1\r\nmode: enforce\r\nmx: mx.other.example\r\nmax_age: 86400\r\n",
		"testing.example":  "version: STSv1\r\nmode: testing\r\nmx: *.other.example\r\nmax_age: 86400\r\n",
		"matching.example": "version: STSv1\r\nmode: enforce\r\nmx: *.matching.example\r\nmax_age: 86400\r\n",
	})
	dns.MustAdd("one.example. MX 10 mx.one.example.", "mx.one.example. A 127.0.0.2")
	// matching.example's MX is in its policy, but smtp-sink offers no
	// STARTTLS: enforce needs verified TLS (RFC 8461 §4.2).
	for name, ip := range map[string]string{"enforce": "127.0.0.4", "testing": "127.0.0.5", "matching": "127.0.0.4"} {
		dns.MustAdd(fmt.Sprintf("%s.example. MX 10 mx.%s.example.", name, name), fmt.Sprintf("mx.%s.example. A %s", name, ip),
			fmt.Sprintf(`_mta-sts.%s.example. TXT "v=STSv1; id=20261201T1000"`, name), fmt.Sprintf("mta-sts.%s.example. A 127.0.0.1", name))
	}
	one := harness.NewOutInstance(t, harness.OutOpts{Domain: "one.example", IP: "127.0.0.2", Port: port, DNS: dns.Addr(), RelayPort: port, Users: []string{"alice"},
		Relay: fmt.Sprintf("\n[mta_sts]\nca_file = %q\nport = %d\n", caFile, httpsPort)})

	one.Submit("alice@one.example", "a@enforce.example,b@testing.example,c@matching.example", "sts")
	q := one.WaitMailq(30*time.Second, "3 recipients: 2 deferred, 1 delivered")
	t.Log(q)
	for _, want := range []string{
		"MTA-STS policy of enforce.example (mode enforce) allows mx mx.other.example; none of its MX hosts mx.enforce.example matches",
		"delivered <b@testing.example>",
		"cannot deliver to c@matching.example: mx.matching.example[127.0.0.4] at STARTTLS: the server does not offer STARTTLS and TLS is required (MTA-STS: verify)",
	} {
		if !strings.Contains(q, want) {
			t.Errorf("mailq lacks %q:\n%s", want, q)
		}
	}
	log := one.Log()
	for _, want := range []string{"MTA-STS: policy fetched", "MTA-STS: MX host not in the policy"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, harness.Tail(log, 30))
		}
	}
	if !strings.Contains(log, `mode=testing`) && !strings.Contains(log, `"mode":"testing"`) {
		t.Errorf("the testing mismatch is not logged with its mode:\n%s", harness.Tail(log, 30))
	}
	// The policies survive a restart: they are on disk.
	for _, d := range []string{"enforce.example", "testing.example"} {
		b, err := os.ReadFile(filepath.Join(one.Dir, "data", "mta-sts", d+".json"))
		if err != nil || !strings.Contains(string(b), `"id": "20261201T1000"`) {
			t.Errorf("cached policy of %s: %v\n%s", d, err, b)
		}
	}
}
