// Package dnstest is a small authoritative DNS server on loopback for
// tests (miekg/dns): it serves the records a test sets (MX, A, AAAA, TXT,
// null MX …) over UDP and TCP, answers SERVFAIL or never answers for
// names the test marks, and counts queries. Only loopback addresses are
// ever bound.
package dnstest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Server is a running test DNS server.
type Server struct {
	udp, tcp *dns.Server
	addr     string

	mu      sync.Mutex
	rrs     map[key][]dns.RR
	fail    map[string]int           // name → rcode to answer with
	failT   map[key]int              // name and type → rcode to answer with
	delay   map[string]time.Duration // name → wait before answering
	queries map[key]int
}

type key struct {
	name  string
	qtype uint16
}

// Start serves on 127.0.0.1 on a free port (UDP and TCP on the same port).
// Stop it with Close.
func Start() (*Server, error) {
	return StartOn("127.0.0.1:0")
}

// StartOn serves on addr, which must be a loopback address.
func StartOn(addr string) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("dnstest: %s is not a loopback address", addr)
	}
	s := &Server{rrs: map[key][]dns.RR{}, fail: map[string]int{}, failT: map[key]int{}, delay: map[string]time.Duration{}, queries: map[key]int{}}
	// Bind UDP first, then TCP on the same port (retry a few ports if
	// the TCP port is taken).
	for range 20 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, err
		}
		tl, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			continue
		}
		s.addr = pc.LocalAddr().String()
		h := dns.HandlerFunc(s.serve)
		s.udp = &dns.Server{PacketConn: pc, Handler: h}
		s.tcp = &dns.Server{Listener: tl, Handler: h}
		ready := make(chan struct{}, 2)
		s.udp.NotifyStartedFunc = func() { ready <- struct{}{} }
		s.tcp.NotifyStartedFunc = func() { ready <- struct{}{} }
		go s.udp.ActivateAndServe()
		go s.tcp.ActivateAndServe()
		<-ready
		<-ready
		return s, nil
	}
	return nil, fmt.Errorf("dnstest: no free port on %s for both UDP and TCP", addr)
}

// Addr is host:port, for dns.resolver.
func (s *Server) Addr() string { return s.addr }

// Close stops the server.
func (s *Server) Close() {
	s.udp.Shutdown()
	s.tcp.Shutdown()
}

// Add adds records in zone-file syntax, one per string, e.g.
// "example.net. 300 IN MX 10 mx.example.net." or
// `example.net. TXT "v=spf1 ip4:127.0.0.2 -all"`. Names are absolute.
func (s *Server) Add(records ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			return fmt.Errorf("dnstest: %q: %w", r, err)
		}
		if rr == nil {
			continue
		}
		k := key{strings.ToLower(rr.Header().Name), rr.Header().Rrtype}
		s.rrs[k] = append(s.rrs[k], rr)
	}
	return nil
}

// AddRR adds records built in Go (for names and texts that zone-file
// syntax makes awkward: any octet in a label or a TXT string).
func (s *Server) AddRR(rrs ...dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range rrs {
		k := key{strings.ToLower(rr.Header().Name), rr.Header().Rrtype}
		s.rrs[k] = append(s.rrs[k], rr)
	}
}

// MustAdd is Add that panics on a bad record (for test set-up).
func (s *Server) MustAdd(records ...string) {
	if err := s.Add(records...); err != nil {
		panic(err)
	}
}

// Remove drops every record of name (absolute) and type (e.g. dns.TypeTXT;
// 0 for all types).
func (s *Server) Remove(name string, qtype uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.ToLower(dns.Fqdn(name))
	for k := range s.rrs {
		if k.name == name && (qtype == 0 || k.qtype == qtype) {
			delete(s.rrs, k)
		}
	}
}

// ServFail makes every query for name answer SERVFAIL (rcode 0 clears it).
func (s *Server) ServFail(name string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.ToLower(dns.Fqdn(name))
	if on {
		s.fail[name] = dns.RcodeServerFailure
	} else {
		delete(s.fail, name)
	}
}

// ServFailType makes queries of qtype for name answer SERVFAIL, while
// other types of that name answer as usual.
func (s *Server) ServFailType(name string, qtype uint16, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key{strings.ToLower(dns.Fqdn(name)), qtype}
	if on {
		s.failT[k] = dns.RcodeServerFailure
	} else {
		delete(s.failT, k)
	}
}

// Delay makes queries for name wait d before the answer (a timeout when d
// exceeds the client's); 0 clears it.
func (s *Server) Delay(name string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.ToLower(dns.Fqdn(name))
	if d > 0 {
		s.delay[name] = d
	} else {
		delete(s.delay, name)
	}
}

// Queries is how many queries of qtype for name were answered or failed.
func (s *Server) Queries(name string, qtype uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[key{strings.ToLower(dns.Fqdn(name)), qtype}]
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	s.mu.Lock()
	s.queries[key{name, q.Qtype}]++
	rcode, failing := s.fail[name]
	if rc, ok := s.failT[key{name, q.Qtype}]; ok {
		rcode, failing = rc, true
	}
	d := s.delay[name]
	var ans []dns.RR
	exists := false
	for k, rrs := range s.rrs {
		if k.name != name {
			continue
		}
		exists = true
		if k.qtype == q.Qtype {
			ans = append(ans, rrs...)
		}
		// A CNAME answers every type (RFC 1034 §3.6.2).
		if k.qtype == dns.TypeCNAME && q.Qtype != dns.TypeCNAME {
			ans = append(ans, rrs...)
		}
	}
	s.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
	switch {
	case failing:
		m.Rcode = rcode
	case !exists:
		m.Rcode = dns.RcodeNameError
	default:
		m.Answer = ans
	}
	// Over UDP, an answer too big for 512 bytes (or the client's EDNS
	// size) is truncated so that the client retries over TCP.
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}
