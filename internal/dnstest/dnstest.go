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
	tsig    map[string]string // key name → secret: updates allowed (StartUpdatable)
	updates int
	secure  map[string]bool // zones whose answers carry the AD bit
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

// StartUpdatable is Start with RFC 2136 dynamic updates accepted when
// signed with the TSIG key keyName (secret in base64, hmac-sha256 or any
// algorithm miekg/dns knows): the primary server that ACME's dns-01 (and
// any RFC 2136 client) talks to.
func StartUpdatable(keyName, secret string) (*Server, error) {
	return startOn("127.0.0.1:0", map[string]string{dns.Fqdn(keyName): secret})
}

// Updates is how many updates were applied.
func (s *Server) Updates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updates
}

// StartOn serves on addr, which must be a loopback address.
func StartOn(addr string) (*Server, error) { return startOn(addr, nil) }

func startOn(addr string, tsig map[string]string) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("dnstest: %s is not a loopback address", addr)
	}
	s := &Server{rrs: map[key][]dns.RR{}, fail: map[string]int{}, failT: map[key]int{}, delay: map[string]time.Duration{}, queries: map[key]int{}, tsig: tsig, secure: map[string]bool{}}
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
		s.udp = &dns.Server{PacketConn: pc, Handler: h, TsigSecret: tsig, MsgAcceptFunc: acceptUpdates}
		s.tcp = &dns.Server{Listener: tl, Handler: h, TsigSecret: tsig, MsgAcceptFunc: acceptUpdates}
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

// Secure makes the answers for zone and every name under it carry the AD
// bit, as a validating resolver's do for a signed zone (RFC 4035 §3.2.3),
// when the query asks for it (AD or DO set); false takes it back. For
// tests of what trusts the bit (DANE); the signatures themselves are
// tested against a real validating resolver (unbound) in test/.
func (s *Server) Secure(zone string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	zone = strings.ToLower(dns.Fqdn(zone))
	if on {
		s.secure[zone] = true
	} else {
		delete(s.secure, zone)
	}
}

func (s *Server) secureLocked(name string) bool {
	for n := name; ; {
		if s.secure[n] {
			return true
		}
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			return s.secure["."]
		}
		n = n[i+1:]
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
	if req.Opcode == dns.OpcodeUpdate {
		s.update(w, req, m)
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
	// The AD bit covers the whole answer: every owner name in it.
	ad := s.secureLocked(name) && (req.AuthenticatedData || req.IsEdns0() != nil && req.IsEdns0().Do())
	for _, rr := range ans {
		ad = ad && s.secureLocked(strings.ToLower(rr.Header().Name))
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
	m.AuthenticatedData = ad && !failing
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

// update applies an RFC 2136 update (§3.4.2: class ANY deletes an RRset,
// class NONE one record, any other class adds) when it is signed with a
// known TSIG key; else NOTAUTH (RFC 8945 §5.2) or REFUSED.
func (s *Server) update(w dns.ResponseWriter, req, m *dns.Msg) {
	t := req.IsTsig()
	switch {
	case s.tsig == nil:
		m.Rcode = dns.RcodeRefused
	case t == nil || w.TsigStatus() != nil:
		m.Rcode = dns.RcodeNotAuth
	default:
		s.mu.Lock()
		for _, rr := range req.Ns {
			h := rr.Header()
			name := strings.ToLower(h.Name)
			switch h.Class {
			case dns.ClassANY:
				for k := range s.rrs {
					if k.name == name && (h.Rrtype == dns.TypeANY || k.qtype == h.Rrtype) {
						delete(s.rrs, k)
					}
				}
			case dns.ClassNONE:
				k := key{name, h.Rrtype}
				var keep []dns.RR
				for _, have := range s.rrs[k] {
					cp := dns.Copy(rr)
					cp.Header().Class, cp.Header().Ttl = have.Header().Class, have.Header().Ttl
					if !dns.IsDuplicate(have, cp) {
						keep = append(keep, have)
					}
				}
				if len(keep) == 0 {
					delete(s.rrs, k)
				} else {
					s.rrs[k] = keep
				}
			default:
				k := key{name, h.Rrtype}
				s.rrs[k] = append(s.rrs[k], dns.Copy(rr))
			}
		}
		s.updates++
		s.mu.Unlock()
	}
	if t != nil && m.Rcode != dns.RcodeNotAuth {
		m.SetTsig(t.Hdr.Name, t.Algorithm, 300, time.Now().Unix())
	}
	w.WriteMsg(m)
}

// acceptUpdates is miekg/dns's default filter, with UPDATE let through
// (the handler refuses it unless StartUpdatable allowed it).
func acceptUpdates(dh dns.Header) dns.MsgAcceptAction {
	if opcode := int(dh.Bits>>11) & 0xF; opcode == dns.OpcodeUpdate && dh.Bits&(1<<15) == 0 {
		if dh.Qdcount != 1 {
			return dns.MsgReject
		}
		return dns.MsgAccept
	}
	return dns.DefaultMsgAcceptFunc(dh)
}
