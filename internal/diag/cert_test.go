package diag

import (
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
	"syscall"
	"testing"
	"time"
)

// testPEMs is a self-signed certificate and its key, PEM.
func testPEMs(t *testing.T) (cert, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca.test"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// A PEM file of certificates only is public; one with a key, or one that
// cannot be read, is a secret.
func TestACertificateIsNoSecret(t *testing.T) {
	dir := t.TempDir()
	cert, key := testPEMs(t)
	files := []struct {
		name   string
		data   []byte
		public bool // IsPublicCertificate
		secret bool // IsSecretPath
	}{
		{"ca.pem", cert, true, false},
		{"chain.crt", append(append([]byte{}, cert...), cert...), true, false},
		{"subject.pem", append([]byte("subject=CN = ca.test\nissuer=CN = ca.test\n"), cert...), true, false},
		{"both.pem", append(append([]byte{}, cert...), key...), false, true},
		{"keyfirst.pem", append(append([]byte{}, key...), cert...), false, true},
		{"key.pem", key, false, true},
		{"text-key.pem", append([]byte("PRIVATE KEY follows elsewhere\n"), cert...), false, true},
		{"trailer.pem", append(append([]byte{}, cert...), []byte("MHcCAQEEI...\n")...), false, true},
		{"empty.pem", nil, false, true},
		{"private-ca.pem", cert, true, true}, // its name says otherwise: kept secret
		{"server.key", cert, true, true},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := IsPublicCertificate(p); got != f.public {
			t.Errorf("IsPublicCertificate(%s) = %v; want %v", f.name, got, f.public)
		}
		if got := IsSecretPath(p, nil); got != f.secret {
			t.Errorf("IsSecretPath(%s) = %v; want %v", f.name, got, f.secret)
		}
	}
	if IsPublicCertificate(filepath.Join(dir, "missing.pem")) || !IsSecretPath(filepath.Join(dir, "missing.pem"), nil) {
		t.Error("a .pem that cannot be read is taken for public")
	}
	if IsPublicCertificate(dir) {
		t.Error("a directory is taken for a certificate")
	}
}

// The fix for a CA file the mail user cannot read: a certificate is made
// readable (chmod a+r, safe: it is public); a PEM with a key never is.
func TestACertificateTheMailUserCannotReadIsMadeReadable(t *testing.T) {
	dir := t.TempDir()
	cert, key := testPEMs(t)
	who := &Identity{UID: 4242, User: "vmail", GID: 4242}
	// fixOf is the fix for who refused at path, a file of root's with
	// mode (as found: the test need not run as root).
	fixOf := func(path string, mode uint32) string {
		e := New("open", "read the CA file (--ca-file) of fetch account lab:", path, syscall.EACCES)
		e.Component, e.Who = "fetch lab", who
		e.Found = &Found{Path: path, Kind: "file", Owner: "root", Group: "root", Mode: mode}
		return accessFix(e, path).String()
	}
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, cert, 0o600)
	if fix := fixOf(ca, 0o600); !strings.Contains(fix, "holds certificates only, which are public") || !strings.Contains(fix, "run: chmod a+r "+ca) {
		t.Errorf("fix for a certificate: %s", fix)
	}
	both := filepath.Join(dir, "both.pem")
	os.WriteFile(both, append(append([]byte{}, cert...), key...), 0o600)
	if fix := fixOf(both, 0o600); strings.Contains(fix, "chmod") || !strings.Contains(fix, "holds secrets") {
		t.Errorf("fix for a PEM with a key: %s", fix)
	}
	// Readable by its mode: the file is not what refuses (a directory
	// above it is), and is not changed.
	if fix := fixOf(ca, 0o644); strings.Contains(fix, "chmod a+r") {
		t.Errorf("fix for a certificate readable by its mode: %s", fix)
	}
	for _, c := range []struct {
		f  Found
		ok bool
	}{{Found{Mode: 0o600}, false}, {Found{Mode: 0o644}, true}, {Found{Mode: 0o640, GID: 4242}, true},
		{Found{Mode: 0o604, GID: 4242}, false}, {Found{Mode: 0o400, UID: 4242}, true}, {Found{Mode: 0o044, UID: 4242}, false}} {
		if got := c.f.ReadableBy(who); got != c.ok {
			t.Errorf("mode %o uid %d gid %d: ReadableBy(vmail) = %v", c.f.Mode, c.f.UID, c.f.GID, got)
		}
	}
}
