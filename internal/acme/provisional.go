package acme

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"time"
)

// ProvisionalIssuer is the issuer of the self-signed certificate STARTTLS
// offers until the CA's first certificate is stored.
const ProvisionalIssuer = "ebb provisional (no ACME certificate yet)"

// Provisional makes a self-signed certificate for names, kept in memory
// only: STARTTLS on port 25 works from the first start (senders using
// opportunistic TLS take any certificate, RFC 7435), until the CA's
// certificate replaces it. Submission clients that verify will refuse it,
// which is right: the name is not proven yet.
func Provisional(names []string) (*tls.Certificate, error) {
	key, err := newKey("ecdsa")
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]},
		Issuer: pkix.Name{CommonName: ProvisionalIssuer}, DNSNames: names,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	tmpl.Subject.Organization = []string{ProvisionalIssuer}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// Certificate is the stored certificate of the set whose first name is
// name, or nil.
func (m *Manager) Certificate(name string) *tls.Certificate {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.certs[name]; e != nil {
		return e.cert
	}
	return nil
}
