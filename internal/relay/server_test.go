package relay

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/servetest"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// testServer is a real SMTP server on a loopback address (ebb's own
// protocol engine, smtpd.ServeConn, with a handler of this test), whose
// replies a test chooses per step.
type testServer struct {
	t     *testing.T
	Addr  string
	proto *smtpd.Protocol
	conns atomic.Int32
	datas atomic.Int32 // transactions that carried data
	// RefuseRcpt, when set, refuses that one address with 550 5.1.1.
	RefuseRcpt string
	mu         sync.Mutex
	received   []received
	// Fail*, when set, is the reply at that step.
	FailMail, FailRcpt, FailData *smtpd.Reply
	DataDelay                    time.Duration
	close                        func()
}

// Close stops listening and drops every connection.
func (ts *testServer) Close() { ts.close() }

type received struct {
	From, To string
	Data     string
	TLS      bool
	Opts     *smtpd.MailOptions
	RcptOpts *smtpd.RcptOptions
}

type testSession struct {
	s    *testServer
	tls  bool
	from string
	opts *smtpd.MailOptions
	to   []string
	ro   *smtpd.RcptOptions
}

func (s *testSession) Hello(_ string, st *tls.ConnectionState) error {
	s.tls = st != nil
	return nil
}

func (s *testSession) Mail(from string, o *smtpd.MailOptions) error {
	if s.s.FailMail != nil {
		return s.s.FailMail
	}
	s.from, s.opts = from, o
	return nil
}
func (s *testSession) Rcpt(to string, o *smtpd.RcptOptions) error {
	if s.s.FailRcpt != nil {
		return s.s.FailRcpt
	}
	if to == s.s.RefuseRcpt {
		return &smtpd.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "no such user"}
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
	s.s.mu.Lock()
	for _, to := range s.to {
		s.s.received = append(s.s.received, received{From: s.from, To: to, Data: string(b), TLS: s.tls, Opts: s.opts, RcptOpts: s.ro})
	}
	s.s.mu.Unlock()
	return nil
}
func (s *testSession) Reset() { s.to = nil }

// startServer listens on ip:port (port 0: any) with STARTTLS when cert is
// set. Like the go-smtp server these tests had before, it offers DSN and
// SMTPUTF8 but not REQUIRETLS.
func startServer(t *testing.T, addr string, cert *tls.Certificate, tweak func(*smtpd.Protocol)) *testServer {
	t.Helper()
	ts := &testServer{t: t}
	p := &smtpd.Protocol{Hostname: "mx.test", NoREQUIRETLS: true,
		CommandTimeout: 10 * time.Second, DataTimeout: 10 * time.Second}
	if cert != nil {
		p.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	if tweak != nil {
		tweak(p)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ts.Addr = l.Addr().String()
	ts.proto = p
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			ts.conns.Add(1)
			mu.Lock()
			open[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				smtpd.ServeConn(c, &testSession{s: ts}, p)
				c.Close()
				mu.Lock()
				delete(open, c)
				mu.Unlock()
			}()
		}
	}()
	var once sync.Once
	ts.close = func() {
		once.Do(func() {
			l.Close()
			mu.Lock()
			for c := range open {
				c.Close()
			}
			mu.Unlock()
			wg.Wait()
		})
	}
	t.Cleanup(ts.close)
	return ts
}

func (ts *testServer) got() []received {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]received(nil), ts.received...)
}

// freePortOn finds a port free on every one of ips, one no other test
// process is handed (servetest.FreePort).
func freePortOn(t *testing.T, ips ...string) int {
	t.Helper()
	return servetest.FreePort(t, ips...)
}
