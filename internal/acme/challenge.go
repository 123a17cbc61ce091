package acme

import (
	"crypto/tls"
	"errors"
	"net/http"
	"slices"
	"strings"
)

// ALPNProto is the ALPN protocol of the tls-alpn-01 challenge (RFC 8737
// §6.2); the HTTPS listener offers it beside http/1.1.
const ALPNProto = "acme-tls/1"

// http01Prefix is where the CA fetches http-01 tokens (RFC 8555 §8.3).
const http01Prefix = "/.well-known/acme-challenge/"

// ServeHTTP01 answers an http-01 request from the CA: the key
// authorization of a token ebb is being asked about (RFC 8555 §8.3). It
// reports whether the request was one (a known token or not).
func (m *Manager) ServeHTTP01(w http.ResponseWriter, r *http.Request) bool {
	token, ok := strings.CutPrefix(r.URL.Path, http01Prefix)
	if !ok {
		return false
	}
	m.mu.Lock()
	ka, known := m.http01[token]
	m.mu.Unlock()
	if !known {
		http.NotFound(w, r)
		m.log.Warn("acme: the CA (or someone) asked for an http-01 token ebb does not have", "token", token, "host", r.Host, "client", r.RemoteAddr)
		return true
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte(ka))
	m.stats.challengeServed("http-01")
	return true
}

// GetCertificate is the HTTPS listener's certificate source: the
// tls-alpn-01 challenge certificate when the CA asks with acme-tls/1
// (RFC 8737 §3), else the stored certificate for the SNI name, else the
// server's certificate (a client asking by address, or for a name ebb has
// no certificate of, gets that one and decides itself).
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	m.mu.Lock()
	defer m.mu.Unlock()
	if slices.Contains(hello.SupportedProtos, ALPNProto) {
		if c, ok := m.alpn[name]; ok {
			m.stats.challengeServed("tls-alpn-01")
			return c, nil
		}
		return nil, errors.New("acme: no tls-alpn-01 challenge pending for " + name)
	}
	if e, ok := m.byName[name]; ok && e.cert != nil {
		return e.cert, nil
	}
	if e := m.certs[m.server]; e != nil && e.cert != nil {
		return e.cert, nil
	}
	return nil, errors.New("acme: no certificate yet for " + name)
}
