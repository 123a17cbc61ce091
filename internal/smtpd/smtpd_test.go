package smtpd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/metrics"
	"github.com/ebbmail/ebb/internal/queue"
)

// fileSpool is a unit-test spool: it streams the message into a file in a
// temp directory, as the queue does, or fails with err.
type fileSpool struct {
	dir string
	mu  sync.Mutex
	got []spooled
	n   int
	err error
	// began, when set, gets each Receive as it starts (the session is
	// then in its DATA, busy).
	began chan struct{}
}

// spooled is what one Receive was handed.
type spooled struct {
	*queue.Envelope
	opt queue.ReceiveOptions
}

func (s *fileSpool) Receive(ctx context.Context, m *queue.Envelope, data io.Reader, opt queue.ReceiveOptions) (string, error) {
	s.mu.Lock()
	s.n++
	id := fmt.Sprintf("Q%d", s.n)
	fail, began := s.err, s.began
	s.mu.Unlock()
	if began != nil {
		began <- struct{}{}
	}
	f, err := os.Create(filepath.Join(s.dir, id))
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.Copy(f, data); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if fail != nil {
		os.Remove(f.Name())
		return "", fail
	}
	s.mu.Lock()
	s.got = append(s.got, spooled{m, opt})
	s.mu.Unlock()
	return id, nil
}

func (s *fileSpool) data(t *testing.T, id string) string {
	b, err := os.ReadFile(filepath.Join(s.dir, id))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mapDirectory hosts example.test with alice and bob.
type mapDirectory struct{ err error }

func (d mapDirectory) IsLocalDomain(ctx context.Context, domain string) (bool, error) {
	if d.err != nil {
		return false, d.err
	}
	return domain == "example.test", nil
}

func (d mapDirectory) Resolve(ctx context.Context, addr string) (*directory.Resolution, error) {
	if d.err != nil {
		return nil, d.err
	}
	r := &directory.Resolution{Address: addr}
	switch strings.ToLower(addr) {
	case "alice@example.test", "bob@example.test":
		r.Mailboxes = []*directory.Mailbox{{Address: strings.ToLower(addr), Enabled: true}}
	case "loop@example.test":
		return nil, &directory.ChainError{Kind: directory.ErrAliasLoop, Chain: []string{"loop@example.test", "loop@example.test"}}
	}
	return r, nil
}

type testServer struct {
	addr  string
	srv   *Server
	spool *fileSpool
}

func startServer(t *testing.T, dir directory.Resolver, certs *Certificates, mod func(*Options), cfgMods ...func(*Config)) *testServer {
	t.Helper()
	sp := &fileSpool{dir: t.TempDir()}
	o := Options{Hostname: "mx.example.test", MaxMessageBytes: 10000, MaxRecipients: 3,
		MaxConnections: 10, MaxPerIP: 2, CommandTimeout: 5 * time.Second, DataTimeout: 5 * time.Second}
	if mod != nil {
		mod(&o)
	}
	cfg := Config{Options: o, Spool: sp, TLS: certs,
		Listeners: []Listener{{Kind: Inbound, Addr: "127.0.0.1:0", Policy: InboundPolicy{Directory: dir}}}}
	for _, m := range cfgMods {
		m(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Bind(); err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return &testServer{addr: srv.Addrs()[0].String(), srv: srv, spool: sp}
}

// client is a raw SMTP client that returns every reply as "code text".
type client struct {
	t  *testing.T
	c  net.Conn
	tp *textproto.Conn
}

func dial(t *testing.T, addr string) (*client, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cl := &client{t: t, c: c, tp: textproto.NewConn(c)}
	t.Cleanup(func() { c.Close() })
	return cl, cl.reply()
}

func (c *client) reply() string {
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil && code == 0 {
		return "ERR " + err.Error()
	}
	return fmt.Sprintf("%d %s", code, msg)
}

func (c *client) cmd(line string) string {
	c.tp.PrintfLine("%s", line)
	return c.reply()
}

// handshake takes the connection into TLS after the server's 220 to
// STARTTLS (any certificate: the tests' own).
func (c *client) handshake() {
	c.t.Helper()
	tc := tls.Client(c.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.c, c.tp = tc, textproto.NewConn(tc)
}

func (c *client) data(body string) string {
	if r := c.cmd("DATA"); !strings.HasPrefix(r, "354") {
		return r
	}
	c.c.Write([]byte(body + "\r\n.\r\n"))
	return c.reply()
}

func TestInboundRecipientPolicy(t *testing.T) {
	ts := startServer(t, mapDirectory{}, nil, nil)
	cases := []struct {
		name, rcpt, want string
	}{
		{"an existing mailbox is accepted", "alice@example.test", "250 2.1.5"},
		{"the domain is case-insensitive and may end in a dot", "alice@EXAMPLE.test.", "250"},
		{"an unknown user is refused at RCPT, no backscatter later", "nobody@example.test", "550 5.1.1"},
		{"a domain not hosted here is relay, and refused", "someone@example.org", "554 5.7.1"},
		{"percent hack is refused, never routed", "alice%example.org@example.test", "553 5.1.3"},
		{"a quoted local part with a space is permanent, not 451", `"john smith"@example.test`, "553 5.1.3"},
		{"a domain ending in two dots is refused", "alice@example.test..", "553 5.1.3"},
		{"a control character is refused", "ali\x01ce@example.test", "553 5.1.3"},
		{"an escape character is refused", "\x1bcalice@example.test", "553 5.1.3"},
		{"a non-ASCII recipient needs SMTPUTF8", "jürgen@example.test", "553 5.6.7"},
		{"an address literal is never hosted", "alice@[127.0.0.1]", "554 5.7.1"},
		{"an alias loop is permanent", "loop@example.test", "550 5.4.6"},
	}
	c, _ := dial(t, ts.addr)
	c.cmd("EHLO client.example.org")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.cmd("RSET")
			c.cmd("MAIL FROM:<s@example.org>")
			if got := c.cmd("RCPT TO:<" + tc.rcpt + ">"); !strings.HasPrefix(got, tc.want) {
				t.Errorf("RCPT TO:<%s> = %q, want %s", tc.rcpt, got, tc.want)
			}
		})
	}
}

// A sender the queue could not use as the address of a bounce is refused
// at MAIL, with a 5xx (no 451 that makes the client retry for days).
func TestInboundSenderPolicy(t *testing.T) {
	ts := startServer(t, mapDirectory{}, nil, nil)
	cases := []struct {
		name, from, want string
	}{
		{"a plain sender", "<s@example.org>", "250"},
		{"the null sender", "<>", "250"},
		{"a non-ASCII sender with SMTPUTF8", "<jürgen@bücher.example> SMTPUTF8", "250"},
		{"a non-ASCII sender without SMTPUTF8", "<jürgen@bücher.example>", "553 5.6.7"},
		{"a quoted local part with a space", `<"john smith"@example.org>`, "553 5.1.7"},
		{"a quoted local part with a tab", "<\"john\tsmith\"@example.org>", "553 5.1.7"},
		{"a quoted local part with <", `<"a<b"@example.org>`, "553 5.1.7"},
		{"a NUL in the domain", "<s@exa\x00mple.org>", "553 5.1.7"},
		{"a control character", "<s\x01@example.org>", "553 5.1.7"},
		{"a domain ending in two dots", "<s@example.org..>", "553 5.1.7"},
		{"an existing sender of a hosted domain", "<alice@example.test>", "250"},
		{"an unknown sender of a hosted domain: its bounce would fail", "<nobody@example.test>", "550 5.1.8"},
	}
	c, _ := dial(t, ts.addr)
	c.cmd("EHLO client.example.org")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.cmd("RSET")
			if got := c.cmd("MAIL FROM:" + tc.from); !strings.HasPrefix(got, tc.want) {
				t.Errorf("MAIL FROM:%s = %q, want %s", tc.from, got, tc.want)
			}
		})
	}
}

// A HELO name with control characters cannot reach the Received header: it
// is refused at the command, and the client may try again with a clean one.
func TestHeloControlCharactersRefused(t *testing.T) {
	ts := startServer(t, mapDirectory{}, nil, nil)
	c, _ := dial(t, ts.addr)
	for _, h := range []string{"evil\x01.example", "\x1b[2Jevil", "bad\xffutf8"} {
		if got := c.cmd("EHLO " + h); !strings.HasPrefix(got, "501 5.5.2") {
			t.Errorf("EHLO %q = %q, want 501 5.5.2", h, got)
		}
	}
	if got := c.cmd("EHLO client.example.org"); !strings.HasPrefix(got, "250") {
		t.Errorf("EHLO after the refusals = %q", got)
	}
}

func TestEHLOAdvertises(t *testing.T) {
	ts := startServer(t, mapDirectory{}, nil, nil)
	c, greet := dial(t, ts.addr)
	if !strings.HasPrefix(greet, "220 mx.example.test") {
		t.Errorf("greeting %q", greet)
	}
	ehlo := c.cmd("EHLO c.example.org")
	for _, ext := range []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "SIZE 10000"} {
		if !strings.Contains(ehlo, ext) {
			t.Errorf("EHLO reply lacks %s:\n%s", ext, ehlo)
		}
	}
	if strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("STARTTLS offered without a certificate:\n%s", ehlo)
	}
	if strings.Contains(ehlo, "AUTH") {
		t.Errorf("AUTH offered on the inbound listener:\n%s", ehlo)
	}
}

func TestAcceptedMessageIsSpooledWithReceivedPrefix(t *testing.T) {
	ts := startServer(t, mapDirectory{}, nil, nil)
	c, _ := dial(t, ts.addr)
	c.cmd("EHLO client.example.org")
	c.cmd("MAIL FROM:<s@example.org>")
	c.cmd("RCPT TO:<alice@example.test>")
	got := c.data("Subject: hi\r\n\r\nhello")
	if !strings.HasPrefix(got, "250 2.0.0 Ok: queued as Q1") {
		t.Fatalf("DATA reply %q", got)
	}
	if d := ts.spool.data(t, "Q1"); d != "Subject: hi\r\n\r\nhello\r\n" {
		t.Errorf("spooled data %q: want the message as sent, without our header", d)
	}
	m := ts.spool.got[0]
	p := string(m.Prefix)
	for _, want := range []string{"Received: from client.example.org ([127.0.0.1])\r\n\tby mx.example.test (ebb) with ESMTP id ",
		"for <alice@example.test>;", "\r\n"} {
		if !strings.Contains(p, want) {
			t.Errorf("Received prefix %q lacks %q", p, want)
		}
	}
	if !strings.HasSuffix(p, "\r\n") || strings.Count(p, "\r\n") != strings.Count(p, "\n") {
		t.Errorf("prefix %q must be CRLF lines", p)
	}
	if m.From != "s@example.org" || len(m.Recipients) != 1 || m.SessionID == "" || m.opt.Via != string(Inbound) || m.opt.TLS || m.Proto != "ESMTP" {
		t.Errorf("envelope %+v", m)
	}
}

func TestOurTroubleIsTemporaryWithARefAndNoPath(t *testing.T) {
	full := diag.PathError("ebb queue", "write", "write", "/var/spool/ebb/queue/X.msg", syscall.ENOSPC, nil)
	perm := diag.New("write", "write", "/var/spool/ebb/queue/Y.msg", errors.New("boom"))
	perm.Class = diag.Permanent
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"full disk is 452 4.3.1", full, "452 4.3.1"},
		{"an unclassified error is 451", errors.New("open /var/spool/ebb/x: permission denied"), "451 4.3.0"},
		{"even a permanent-looking error of ours is never 5xx", perm, "451 4.3.0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, mapDirectory{}, nil, nil)
			ts.spool.err = tc.err
			c, _ := dial(t, ts.addr)
			c.cmd("EHLO c")
			c.cmd("MAIL FROM:<s@example.org>")
			c.cmd("RCPT TO:<alice@example.test>")
			got := c.data("x")
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("reply %q, want %s", got, tc.want)
			}
			if !strings.Contains(got, "(ref ") || strings.Contains(got, "/") {
				t.Errorf("reply %q must carry a ref and no path", got)
			}
		})
	}
}

func TestDirectoryDownIs451AtRCPT(t *testing.T) {
	ts := startServer(t, mapDirectory{err: errors.New("dial tcp 127.0.0.1:5432: connection refused")}, nil, nil)
	c, _ := dial(t, ts.addr)
	c.cmd("EHLO c")
	// A sender is looked up too (is it ours and known?): our trouble, 451.
	if got := c.cmd("MAIL FROM:<s@example.org>"); !strings.HasPrefix(got, "451 4.3.0") || strings.Contains(got, "5432") {
		t.Errorf("MAIL with the directory down = %q, want 451 4.3.0 with no detail", got)
	}
	c.cmd("MAIL FROM:<>")
	got := c.cmd("RCPT TO:<alice@example.test>")
	if !strings.HasPrefix(got, "451 4.3.0") || !strings.Contains(got, "ref ") || strings.Contains(got, "5432") {
		t.Errorf("RCPT with the directory down = %q, want 451 4.3.0 with a ref and no detail", got)
	}
}

func TestLimits(t *testing.T) {
	ts := startServer(t, mapDirectory{}, nil, nil)
	t.Run("a message over the size limit is refused with 552", func(t *testing.T) {
		c, _ := dial(t, ts.addr)
		c.cmd("EHLO c")
		c.cmd("MAIL FROM:<s@example.org>")
		c.cmd("RCPT TO:<alice@example.test>")
		got := c.data(strings.Repeat("0123456789012345678901234567890123456789\r\n", 400))
		if !strings.HasPrefix(got, "552") {
			t.Errorf("reply %q, want 552", got)
		}
	})
	t.Run("SIZE= over the limit is refused at MAIL", func(t *testing.T) {
		c, _ := dial(t, ts.addr)
		c.cmd("EHLO c")
		if got := c.cmd("MAIL FROM:<s@example.org> SIZE=20000"); !strings.HasPrefix(got, "552") {
			t.Errorf("reply %q, want 552", got)
		}
	})
	t.Run("recipients past the limit get 452", func(t *testing.T) {
		c, _ := dial(t, ts.addr)
		c.cmd("EHLO c")
		c.cmd("MAIL FROM:<s@example.org>")
		for i := 0; i < 3; i++ {
			c.cmd("RCPT TO:<alice@example.test>")
		}
		if got := c.cmd("RCPT TO:<bob@example.test>"); !strings.HasPrefix(got, "452") {
			t.Errorf("4th RCPT = %q, want 452", got)
		}
	})
	t.Run("a third connection from one IP gets 421", func(t *testing.T) {
		dial(t, ts.addr)
		dial(t, ts.addr)
		_, greet := dial(t, ts.addr)
		if !strings.HasPrefix(greet, "421 4.7.0") {
			t.Errorf("greeting %q, want 421 4.7.0", greet)
		}
	})
}

func TestCommandTimeoutClosesIdleClient(t *testing.T) {
	ts := startServer(t, mapDirectory{}, nil, func(o *Options) { o.CommandTimeout = 300 * time.Millisecond })
	c, _ := dial(t, ts.addr)
	start := time.Now()
	got := c.reply()
	if !strings.HasPrefix(got, "421") || time.Since(start) > 3*time.Second {
		t.Errorf("after idling: %q after %s, want 421 after the command timeout", got, time.Since(start))
	}
}

func TestSTARTTLSAndReceivedSaysESMTPS(t *testing.T) {
	certs := selfSigned(t, "mx.example.test")
	ts := startServer(t, mapDirectory{}, certs, nil)
	c, _ := dial(t, ts.addr)
	if ehlo := c.cmd("EHLO c"); !strings.Contains(ehlo, "STARTTLS") {
		t.Fatalf("no STARTTLS with a certificate:\n%s", ehlo)
	}
	if got := c.cmd("STARTTLS"); !strings.HasPrefix(got, "220") {
		t.Fatalf("STARTTLS = %q", got)
	}
	c.handshake()
	c.cmd("EHLO c")
	c.cmd("MAIL FROM:<s@example.org>")
	c.cmd("RCPT TO:<alice@example.test>")
	if got := c.data("x"); !strings.HasPrefix(got, "250") {
		t.Fatalf("DATA over TLS = %q", got)
	}
	p := string(ts.spool.got[0].Prefix)
	if !strings.Contains(p, "with ESMTPS id") || !strings.Contains(p, "(using TLS1.") {
		t.Errorf("Received %q should say ESMTPS and the TLS version", p)
	}
}

func TestShutdownLetsDataFinish(t *testing.T) {
	ts := startServer(t, mapDirectory{}, nil, nil)
	ts.spool.began = make(chan struct{}, 1)
	c, _ := dial(t, ts.addr)
	idle, _ := dial(t, ts.addr)
	c.cmd("EHLO c")
	c.cmd("MAIL FROM:<s@example.org>")
	c.cmd("RCPT TO:<alice@example.test>")
	c.cmd("DATA")
	c.c.Write([]byte("Subject: half\r\n"))
	<-ts.spool.began // Data is running now
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- ts.srv.Shutdown(ctx)
	}()
	// An idle connection is told, with a ref (RFC 5321 §3.8), and closed.
	if got := idle.reply(); !regexp.MustCompile(`^421 4\.3\.2 mx\.example\.test Service shutting down, try again later \(ref [A-Z2-7]{8}\)$`).MatchString(got) {
		t.Errorf("idle connection after shutdown: %q, want 421 4.3.2 with a ref", got)
	}
	if got := idle.reply(); !strings.HasPrefix(got, "ERR") {
		t.Errorf("idle connection after its 421: %q, want closed", got)
	}
	c.c.Write([]byte("\r\nrest\r\n.\r\n"))
	if got := c.reply(); !strings.HasPrefix(got, "250") {
		t.Errorf("DATA in flight during shutdown got %q, want 250", got)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Errorf("still accepting after Shutdown")
	}
}

func TestReceivedHeader(t *testing.T) {
	now := time.Date(2026, 11, 28, 13, 22, 39, 0, time.UTC)
	cases := []struct {
		name  string
		info  SessionInfo
		rcpts []string
		utf8  bool
		want  string
	}{
		{"one recipient: for clause", SessionInfo{Helo: "mail.example.org", RemoteIP: "192.0.2.1"}, []string{"a@example.test"}, false,
			"Received: from mail.example.org ([192.0.2.1])\r\n\tby mx (ebb) with ESMTP id c.1\r\n\tfor <a@example.test>;\r\n\tSat, 28 Nov 2026 13:22:39 +0000\r\n"},
		{"two recipients: no for clause", SessionInfo{Helo: "h", RemoteIP: "2001:db8::1"}, []string{"a@x", "b@x"}, false,
			"Received: from h ([IPv6:2001:db8::1])\r\n\tby mx (ebb) with ESMTP id c.1;\r\n\tSat, 28 Nov 2026 13:22:39 +0000\r\n"},
		{"a hostile HELO cannot break the header", SessionInfo{Helo: "evil\r\nX-Injected: 1 (x)", RemoteIP: "192.0.2.1", AuthUser: "u"}, nil, true,
			"Received: from evil??X-Injected:?1??x? ([192.0.2.1])\r\n\tby mx (ebb) with UTF8SMTPA id c.1;\r\n\tSat, 28 Nov 2026 13:22:39 +0000\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(received(&tc.info, "mx", "c.1", tc.rcpts, tc.utf8, now)); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// Every reply is counted in the metrics, also those over TLS and those the
// engine makes itself (500, 503).
func TestRepliesAreCountedAlsoOverTLS(t *testing.T) {
	m := metrics.New()
	ts := startServer(t, mapDirectory{}, selfSigned(t, "mx.example.test"), nil, func(c *Config) { c.Metrics = m })
	c, _ := dial(t, ts.addr)
	c.cmd("EHLO c")
	c.cmd("FROB")
	c.cmd("STARTTLS")
	c.handshake()
	c.cmd("EHLO c")
	c.cmd("RCPT TO:<alice@example.test>")
	c.cmd("MAIL FROM:<s@example.org>")
	c.cmd("RCPT TO:<nobody@example.test>")
	c.cmd("QUIT")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	page := rec.Body.String()
	for code, n := range map[int]int{220: 2, 250: 3, 500: 1, 503: 1, 550: 1, 221: 1} {
		if want := fmt.Sprintf(`ebb_smtp_replies_total{code="%d"} %d`, code, n); !strings.Contains(page, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// selfSigned makes a certificate for host in a temp dir and loads it.
func selfSigned(t testing.TB, host string) *Certificates {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host},
		DNSNames: []string{host}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, err := LoadCertificates(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
