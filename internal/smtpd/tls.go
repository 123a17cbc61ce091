package smtpd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
)

// Certificates is a certificate and key loaded from PEM files, reloadable
// while connections use it (SIGHUP): every handshake takes the latest.
type Certificates struct {
	CertFile, KeyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// LoadCertificates reads the PEM files.
func LoadCertificates(certFile, keyFile string) (*Certificates, error) {
	c := &Certificates{CertFile: certFile, KeyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again; on error the previous certificate stays.
func (c *Certificates) Reload() error {
	if c.KeyFile == "" {
		return errors.New("no key file configured for the certificate " + c.CertFile)
	}
	crt, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return fmt.Errorf("load certificate %s with key %s: %w", c.CertFile, c.KeyFile, err)
	}
	if crt.Leaf == nil && len(crt.Certificate) > 0 {
		crt.Leaf, _ = x509.ParseCertificate(crt.Certificate[0])
	}
	c.cur.Store(&crt)
	return nil
}

// Leaf is the current certificate, parsed.
func (c *Certificates) Leaf() *x509.Certificate {
	if crt := c.cur.Load(); crt != nil {
		return crt.Leaf
	}
	return nil
}

func (c *Certificates) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if crt := c.cur.Load(); crt != nil {
		return crt, nil
	}
	return nil, errors.New("no certificate loaded")
}

// Set makes crt the certificate of the next handshakes: one that is not
// read from files (an ACME certificate from internal/acme, kept in memory
// and replaced at each renewal).
func (c *Certificates) Set(crt *tls.Certificate) { c.cur.Store(crt) }

// GetCertificate is the current certificate, as a tls.Config callback (the
// HTTPS listener without ACME uses smtp.tls_cert this way).
func (c *Certificates) GetCertificate(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.get(h)
}
