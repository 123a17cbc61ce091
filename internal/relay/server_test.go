package relay

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// testServer is a real SMTP server (emersion/go-smtp) on a loopback
// address, whose replies a test chooses per step.
type testServer struct {
	t     *testing.T
	Addr  string
	srv   *smtp.Server
	conns atomic.Int32
	datas atomic.Int32 // transactions that carried data
	// RefuseRcpt, when set, refuses that one address with 550 5.1.1.
	RefuseRcpt string
	mu         sync.Mutex
	received   []received
	// Fail*, when set, is the reply at that step.
	FailMail, FailRcpt, FailData *smtp.SMTPError
	DataDelay                    time.Duration
}

type received struct {
	From, To string
	Data     string
	TLS      bool
	Opts     *smtp.MailOptions
	RcptOpts *smtp.RcptOptions
}

type testSession struct {
	s    *testServer
	c    *smtp.Conn
	from string
	opts *smtp.MailOptions
	to   []string
	ro   *smtp.RcptOptions
}

func (s *testSession) Mail(from string, o *smtp.MailOptions) error {
	if s.s.FailMail != nil {
		return s.s.FailMail
	}
	s.from, s.opts = from, o
	return nil
}
func (s *testSession) Rcpt(to string, o *smtp.RcptOptions) error {
	if s.s.FailRcpt != nil {
		return s.s.FailRcpt
	}
	if to == s.s.RefuseRcpt {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.to = append(s.to, to)
	s.ro = o
	return nil
}
func (s *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.s.datas.Add(1)
	if s.s.DataDelay > 0 {
		time.Sleep(s.s.DataDelay)
	}
	if s.s.FailData != nil {
		return s.s.FailData
	}
	_, isTLS := s.c.TLSConnectionState()
	s.s.mu.Lock()
	for _, to := range s.to {
		s.s.received = append(s.s.received, received{From: s.from, To: to, Data: string(b), TLS: isTLS, Opts: s.opts, RcptOpts: s.ro})
	}
	s.s.mu.Unlock()
	return nil
}
func (s *testSession) Reset()        { s.to = nil }
func (s *testSession) Logout() error { return nil }

// startServer listens on ip:port (port 0: any) with STARTTLS when cert is
// set.
func startServer(t *testing.T, addr string, cert *tls.Certificate, tweak func(*smtp.Server)) *testServer {
	t.Helper()
	ts := &testServer{t: t}
	be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &testSession{s: ts, c: c}, nil
	})
	srv := smtp.NewServer(be)
	srv.Domain = "mx.test"
	srv.AllowInsecureAuth = true
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	if tweak != nil {
		tweak(srv)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ts.Addr = l.Addr().String()
	ts.srv = srv
	go srv.Serve(&countingListener{Listener: l, n: &ts.conns})
	t.Cleanup(func() { srv.Close() })
	return ts
}

type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func (ts *testServer) got() []received {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]received(nil), ts.received...)
}

// testCA is a CA and the certificates it signs, for verify tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	PEM  []byte
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ebb test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// leaf signs a server certificate for name, valid from nb to na.
func (ca *testCA) leaf(t *testing.T, name string, nb, na time.Time) *tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: nb, NotAfter: na,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (ca *testCA) file(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// freePortOn finds a port free on every one of ips.
func freePortOn(t *testing.T, ips ...string) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", ips[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		ok := true
		for _, ip := range ips[1:] {
			l2, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, port))
			if err != nil {
				ok = false
				break
			}
			l2.Close()
		}
		l.Close()
		if ok {
			return port
		}
	}
	t.Fatal("no common free port")
	return 0
}
