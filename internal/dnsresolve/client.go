package dnsresolve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/ebbmail/ebb/internal/config"
)

// Client asks the DNS directly (miekg/dns), for the checks that must look
// up names Go's resolver refuses: RFC 7208 §7 builds SPF names from macros,
// and a label may hold any octet (RFC 2181 §11) — "foo:bar/baz.example.com"
// or "jack+jill.example.com" are names to look up, where net.Resolver
// answers "no such host" without asking. It also asks exactly the type
// needed (A or AAAA, never both for one IP version), never appends search
// domains, and its errors name the server that was asked.
//
// Its methods are those of *net.Resolver that the checks use, with the
// same *net.DNSError classification (IsNotFound for NXDOMAIN and for an
// empty answer; IsTemporary or IsTimeout for failures), so the two are
// interchangeable behind an interface.
type Client struct {
	// Servers are host:port addresses, asked in order until one answers.
	// Empty: those of /etc/resolv.conf, read again at most every 5 s.
	Servers []string
	Timeout time.Duration

	mu    sync.Mutex
	sys   []string
	sysAt time.Time
}

// NewClient is the client for cfg's dns.resolver and dns.timeout; with no
// dns.resolver, the name servers of /etc/resolv.conf (as the system's
// resolver would ask).
func NewClient(cfg *config.Config) *Client {
	return NewClientAt(cfg.DNS.Resolver, cfg.DNS.Timeout.Duration)
}

// NewClientAt is NewClient with the server and timeout given directly.
func NewClientAt(server string, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	c := &Client{Timeout: timeout}
	if server != "" {
		c.Servers = []string{server}
	}
	return c
}

// resolvConf is a variable for the test of systemServers.
var resolvConf = "/etc/resolv.conf"

func (c *Client) servers() []string {
	if len(c.Servers) > 0 {
		return c.Servers
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sys == nil || time.Since(c.sysAt) > 5*time.Second {
		c.sys, c.sysAt = systemServers(), time.Now()
	}
	return c.sys
}

// systemServers are the name servers of /etc/resolv.conf, as Go's
// resolver and glibc would ask them.
func systemServers() []string {
	cc, err := dns.ClientConfigFromFile(resolvConf)
	if err != nil || len(cc.Servers) == 0 {
		// What Go's resolver and glibc do without resolv.conf.
		return []string{"127.0.0.1:53", "[::1]:53"}
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out
}

// maxCNAME bounds a chain of aliases the client follows itself (when the
// server answers with a CNAME only); a longer chain, or a loop, is an
// error.
const maxCNAME = 8

// Query asks for the records of qtype at name (absolute or not: it is
// always asked as absolute) and returns those of the answer section,
// following CNAMEs. No record: a *net.DNSError with IsNotFound.
func (c *Client) Query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	a, err := c.lookup(ctx, name, qtype, false)
	return a.RRs, err
}

// Answer is what Lookup found, with the DNSSEC status the server gave it.
type Answer struct {
	RRs []dns.RR
	// Name is the owner of RRs without the trailing dot: the name asked,
	// or the end of the CNAME chain that led there (RFC 7672 §2.2.2 calls
	// it the expanded name). For an answer with no record, the last name
	// asked.
	Name string
	// Secure: every response of the chain had the AD bit (RFC 4035
	// §3.2.3): the server validated the records, or the proof that there
	// are none. Only as trustworthy as the server and the path to it:
	// callers act on it only when dns.dnssec says the server validates.
	Secure bool
}

// Lookup is Query that also asks the server to say whether it validated
// the answer (the AD bit in the query, RFC 6840 §5.7): for DANE (RFC 7672
// §2.1), whose records count only when DNSSEC vouches for them. An answer
// with no record comes with its Secure (authenticated denial, RFC 4035
// §5.4) and a *net.DNSError with IsNotFound. A bogus answer is a SERVFAIL
// from a validating server: a temporary error.
func (c *Client) Lookup(ctx context.Context, name string, qtype uint16) (Answer, error) {
	return c.lookup(ctx, name, qtype, true)
}

func (c *Client) lookup(ctx context.Context, name string, qtype uint16, ad bool) (Answer, error) {
	orig := name
	// A backslash in a name (an SPF macro may put one there) is an octet
	// of its label, not the start of a presentation-format escape.
	name = strings.ReplaceAll(name, `\`, `\\`)
	seen := map[string]bool{}
	secure := true
	for range maxCNAME {
		fq := dns.Fqdn(name)
		seen[strings.ToLower(fq)] = true
		in, server, err := c.exchange(ctx, fq, qtype, ad)
		if err != nil {
			return Answer{Name: strings.TrimSuffix(fq, ".")}, err
		}
		secure = secure && in.AuthenticatedData
		switch in.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			return Answer{Name: strings.TrimSuffix(fq, "."), Secure: secure},
				&net.DNSError{Err: "no such host (NXDOMAIN)", Name: orig, Server: server, IsNotFound: true}
		default:
			return Answer{Name: strings.TrimSuffix(fq, ".")},
				&net.DNSError{Err: "server answered " + dns.RcodeToString[in.Rcode], Name: orig, Server: server, IsTemporary: true}
		}
		var out []dns.RR
		var alias string
		// The chain as the server gave it: the records of qtype at the end
		// of the CNAMEs that start at name.
		cur := strings.ToLower(fq)
		if len(in.Question) == 1 {
			// The name as unpacked, escaped as the answer's owner names.
			cur = strings.ToLower(in.Question[0].Name)
		}
		for range maxCNAME + 1 {
			next := ""
			for _, rr := range in.Answer {
				if strings.ToLower(rr.Header().Name) != cur {
					continue
				}
				if rr.Header().Rrtype == qtype {
					out = append(out, rr)
				} else if cn, ok := rr.(*dns.CNAME); ok && qtype != dns.TypeCNAME {
					next = strings.ToLower(cn.Target)
				}
			}
			if len(out) > 0 || next == "" {
				break
			}
			if seen[next] {
				return Answer{Name: strings.TrimSuffix(cur, ".")}, &net.DNSError{Err: "CNAME loop", Name: orig, Server: server}
			}
			seen[next] = true
			cur, alias = next, next
		}
		if len(out) > 0 {
			return Answer{RRs: out, Name: strings.TrimSuffix(cur, "."), Secure: secure}, nil
		}
		if alias == "" {
			return Answer{Name: strings.TrimSuffix(cur, "."), Secure: secure},
				&net.DNSError{Err: "no " + dns.TypeToString[qtype] + " record", Name: orig, Server: server, IsNotFound: true}
		}
		// Only the alias came back: ask for its target.
		name = alias
	}
	return Answer{}, &net.DNSError{Err: "CNAME chain too long", Name: orig}
}

// exchange sends one query, over UDP and again over TCP when the answer is
// truncated, to each server in turn until one answers.
func (c *Client) exchange(ctx context.Context, name string, qtype uint16, ad bool) (*dns.Msg, string, error) {
	if _, ok := dns.IsDomainName(name); !ok {
		// Not representable on the wire (a label over 63 octets, a name
		// over 255): no such name can exist.
		return nil, "", &net.DNSError{Err: "not a valid DNS name", Name: strings.TrimSuffix(name, "."), IsNotFound: true}
	}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	m.AuthenticatedData = ad
	m.SetEdns0(1232, false)
	var lastErr error
	var lastServer string
	for _, server := range c.servers() {
		in, err := c.exchangeWith(ctx, m, server)
		if err == nil {
			return in, server, nil
		}
		lastErr, lastServer = err, server
		if ctx.Err() != nil {
			break
		}
	}
	de := &net.DNSError{Err: lastErr.Error(), Name: strings.TrimSuffix(name, "."), Server: lastServer, IsTemporary: true}
	var ne net.Error
	if errors.As(lastErr, &ne) && ne.Timeout() || errors.Is(lastErr, context.DeadlineExceeded) {
		de.Err, de.IsTimeout = "timed out", true
	}
	return nil, lastServer, de
}

func (c *Client) exchangeWith(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	udp := &dns.Client{Net: "udp", Timeout: c.Timeout, UDPSize: 1232}
	in, _, err := udp.ExchangeContext(ctx, m, server)
	if err == nil && in.Id != m.Id {
		err = fmt.Errorf("answer id %d for query id %d", in.Id, m.Id)
	}
	if err == nil && !in.Truncated {
		return in, nil
	}
	if err != nil {
		return nil, err
	}
	tcp := &dns.Client{Net: "tcp", Timeout: c.Timeout}
	in, _, err = tcp.ExchangeContext(ctx, m, server)
	return in, err
}

// LookupTXT returns each TXT record with its strings joined (RFC 7208
// §3.3), as net.Resolver does.
func (c *Client) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := c.Query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		var b strings.Builder
		for _, part := range rr.(*dns.TXT).Txt {
			b.WriteString(unescapeTXT(part))
		}
		out = append(out, b.String())
	}
	return out, nil
}

// unescapeTXT undoes miekg/dns's presentation format of a TXT string
// (\DDD for a byte outside printable ASCII, \X for a quote or a
// backslash): the checks see the record's octets, and RFC 7208 §3.1
// makes a non-ASCII byte in an SPF record an error, not text.
func unescapeTXT(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if n <= 255 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// LookupNetIP returns the addresses of host: network "ip4" asks A, "ip6"
// AAAA, "ip" both (found when either has one).
func (c *Client) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	var types []uint16
	switch network {
	case "ip4":
		types = []uint16{dns.TypeA}
	case "ip6":
		types = []uint16{dns.TypeAAAA}
	case "ip":
		types = []uint16{dns.TypeA, dns.TypeAAAA}
	default:
		return nil, &net.DNSError{Err: "unknown network " + network, Name: host}
	}
	var out []netip.Addr
	var firstErr error
	for _, t := range types {
		rrs, err := c.Query(ctx, host, t)
		if err != nil {
			if firstErr == nil || IsNotFound(firstErr) {
				firstErr = err
			}
			continue
		}
		for _, rr := range rrs {
			var ip net.IP
			switch v := rr.(type) {
			case *dns.A:
				ip = v.A
			case *dns.AAAA:
				ip = v.AAAA
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				out = append(out, a.Unmap())
			}
		}
	}
	if len(out) == 0 {
		return nil, firstErr
	}
	return out, nil
}

// LookupIPAddr is LookupNetIP(ctx, "ip", host) as net.IPAddrs.
func (c *Client) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	as, err := c.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]net.IPAddr, len(as))
	for i, a := range as {
		out[i] = net.IPAddr{IP: a.AsSlice()}
	}
	return out, nil
}

// LookupMX returns the MX records of name, in the server's order (RFC 7208
// §5.4 uses them all, whatever their preference).
func (c *Client) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	rrs, err := c.Query(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]*net.MX, 0, len(rrs))
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	return out, nil
}

// LookupAddr returns the PTR names of the address addr.
func (c *Client) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	rev, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: addr}
	}
	rrs, err := c.Query(ctx, rev, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, rr.(*dns.PTR).Ptr)
	}
	return out, nil
}
