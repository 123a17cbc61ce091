package harness

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/servetest"
)

// Pebble is Let's Encrypt's ACME test server (Debian's pebble package) on
// 127.0.0.1: it validates challenges by asking DNS at the test's DNS
// server and connecting to 127.0.0.x on HTTPPort (http-01) and TLSPort
// (tls-alpn-01), where the ebb under test listens.
type Pebble struct {
	DirectoryURL string // https://127.0.0.1:PORT/dir
	CAFile       string // PEM: the CA of Pebble's own HTTPS (acme.ca_file)
	HTTPPort     int    // web.listen_http of the ebb under test
	TLSPort      int    // web.listen
	mgmt         string
	client       *http.Client
}

// StartPebble starts pebble with -dnsserver dnsAddr and stops it when the
// test ends. Its HTTPS certificate comes from a CA made here.
func StartPebble(t testing.TB, dnsAddr string) *Pebble {
	t.Helper()
	Install(t, "pebble")
	dir := Dir(t)
	caPEM, certPEM, keyPEM := pebbleTLS(t)
	p := &Pebble{CAFile: filepath.Join(dir, "pebble-ca.pem"), HTTPPort: FreePort(t), TLSPort: FreePort(t)}
	for name, b := range map[string][]byte{"pebble-ca.pem": caPEM, "cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	listen := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	p.mgmt = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	conf, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": p.mgmt,
		"certificate": filepath.Join(dir, "cert.pem"), "privateKey": filepath.Join(dir, "key.pem"),
		"httpPort": p.HTTPPort, "tlsPort": p.TLSPort, "ocspResponderURL": "", "externalAccountBindingRequired": false,
	}})
	confPath := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("pebble", "-config", confPath, "-dnsserver", dnsAddr)
	// No random sleep before validating, no rejected nonces: the test
	// waits on what ebb does, not on Pebble's chaos.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	startLogged(t, dir, "pebble", cmd) // dnssec.go
	WaitTCP(t, listen, "", 20*time.Second)
	WaitTCP(t, p.mgmt, "", 20*time.Second)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	p.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	p.DirectoryURL = "https://" + listen + "/dir"
	return p
}

// Root is the PEM of the root that Pebble's certificates chain to (from
// its management interface; a new one at every start).
func (p *Pebble) Root(t testing.TB) []byte {
	t.Helper()
	resp, err := p.client.Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("pebble root: %d %v", resp.StatusCode, err)
	}
	return b
}

// RootPool is Root as a certificate pool.
func (p *Pebble) RootPool(t testing.TB) *x509.CertPool {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p.Root(t)) {
		t.Fatal("pebble root: no PEM certificate")
	}
	return pool
}

// pebbleTLS makes a CA and a certificate for 127.0.0.1 and localhost.
func pebbleTLS(t testing.TB) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	ca := servetest.NewCA(t)
	leaf := ca.LeafValid(t, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), "localhost", "127.0.0.1")
	kd, err := x509.MarshalPKCS8PrivateKey(leaf.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return ca.PEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Certificate[0]}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
}
