package msgauth

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/spf"
	"github.com/ebbmail/ebb/test/harness"
)

// spfZone is a small world of SPF records on the test DNS: every kind of
// term, macros building names Go's resolver refuses, the limits, syntax
// errors that stand after a match, a DNS failure.
var spfZone = []string{
	`pass.example. TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"`,
	`soft.example. TXT "v=spf1 ~all"`,
	`neutral.example. TXT "v=spf1 ?all"`,
	`inc.example. TXT "v=spf1 include:pass.example -all"`,
	`redir.example. TXT "v=spf1 redirect=pass.example"`,
	`mx.example. TXT "v=spf1 mx/24 -all"`,
	`mx.example. MX 10 mail.mx.example.`,
	`mail.mx.example. A 198.51.100.7`,
	`amac.example. TXT "v=spf1 exists:%{l}.%{o}.allow.example -all"`,
	`jack+jill.amac.example.allow.example. A 127.0.0.2`,
	`colon.example. TXT "v=spf1 a:foo:bar/baz.colon.example -all"`,
	`foo:bar/baz.colon.example. A 192.0.2.9`,
	`void.example. TXT "v=spf1 a:n1.void.example a:n2.void.example a:n3.void.example ?all"`,
	`bad.example. TXT "v=spf1 ip4:bogus -all"`,
	`late.example. TXT "v=spf1 ip4:192.0.2.0/24 -all moo"`,
	`twice.example. TXT "v=spf1 -all"`,
	`twice.example. TXT "v=spf1 +all"`,
	`lim.example. TXT "v=spf1 a a a a a a a a a a a -all"`,
	`lim.example. A 198.51.100.1`,
	`ptr.example. TXT "v=spf1 ptr:ptr.example -all"`,
	`20.2.0.192.in-addr.arpa. PTR h.ptr.example.`,
	`h.ptr.example. A 192.0.2.20`,
	`helo.example. TXT "v=spf1 ip4:192.0.2.5 -all"`,
	`flaky.example. TXT "v=spf1 -all"`,
}

type spfCase struct{ ip, sender, helo, want string }

var spfCases = []spfCase{
	{"192.0.2.1", "a@pass.example", "h.example", "pass"},
	{"198.51.100.1", "a@pass.example", "h.example", "fail"},
	{"2001:db8::5", "a@pass.example", "h.example", "pass"},
	{"198.51.100.1", "a@soft.example", "h.example", "softfail"},
	{"198.51.100.1", "a@neutral.example", "h.example", "neutral"},
	{"192.0.2.1", "a@inc.example", "h.example", "pass"},
	{"198.51.100.1", "a@inc.example", "h.example", "fail"},
	{"192.0.2.1", "a@redir.example", "h.example", "pass"},
	{"198.51.100.99", "a@mx.example", "h.example", "pass"},
	{"2001:db8::5", "a@mx.example", "h.example", "fail"},
	{"203.0.113.1", "jack+jill@amac.example", "h.example", "pass"},
	{"203.0.113.1", "jack@amac.example", "h.example", "fail"},
	{"192.0.2.9", "a@colon.example", "h.example", "pass"},
	{"192.0.2.9", "a@void.example", "h.example", "permerror"},
	{"192.0.2.1", "a@bad.example", "h.example", "permerror"},
	{"192.0.2.1", "a@late.example", "h.example", "permerror"},
	{"192.0.2.1", "a@twice.example", "h.example", "permerror"},
	{"192.0.2.1", "a@lim.example", "h.example", "permerror"},
	{"192.0.2.20", "a@ptr.example", "h.example", "pass"},
	{"192.0.2.21", "a@ptr.example", "h.example", "fail"},
	{"192.0.2.5", "postmaster@helo.example", "helo.example", "pass"},
	{"192.0.2.6", "postmaster@helo.example", "helo.example", "fail"},
	{"192.0.2.1", "a@nospf.example", "h.example", "none"},
	{"192.0.2.1", "a@flaky.example", "h.example", "temperror"},
}

// ebb's SPF check and pyspf (Debian python3-spf, the suite's own
// implementation) give the same result for each case, both asking the
// same loopback DNS server.
func TestSPFAgreesWithPyspf(t *testing.T) {
	t.Parallel()
	dns := harness.StartDNS(t)
	dns.MustAdd(spfZone...)
	dns.ServFail("flaky.example.", true)

	var in strings.Builder
	for _, c := range spfCases {
		fmt.Fprintf(&in, "%s %s %s\n", c.ip, c.sender, c.helo)
	}
	cmd := exec.Command("/usr/bin/python3", "testdata/pyspf_check.py", dns.Addr())
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pyspf: %v\n%s", err, out)
	}
	py := strings.Fields(string(out))
	if len(py) != len(spfCases) {
		t.Fatalf("pyspf gave %d results for %d cases: %q", len(py), len(spfCases), out)
	}
	res := dnsresolve.NewClientAt(dns.Addr(), 5*time.Second)
	for i, c := range spfCases {
		domain := c.sender[strings.LastIndexByte(c.sender, '@')+1:]
		o := (&spf.Checker{Resolver: res}).CheckHost(context.Background(), netip.MustParseAddr(c.ip), domain, c.sender, c.helo)
		if string(o.Result) != c.want || py[i] != c.want {
			t.Errorf("%s from %s: ebb %s (%s), pyspf %s, want %s", c.sender, c.ip, o.Result, o.Reason, py[i], c.want)
		}
	}
}

// Through ebb serve: a sender whose SPF names are built by macros from
// its local part ("jack+jill", which Go's resolver would refuse to look
// up) passes, and a DNS failure's reason in Authentication-Results names
// the resolver that was asked (dns.resolver), not the system's.
func TestAuthSPFMacroAndReason(t *testing.T) {
	t.Parallel()
	dns := harness.StartDNS(t)
	dns.MustAdd(spfZone...)
	dns.MustAdd(`jack+jill.amac.example.allow.example. A 127.0.0.2`)
	dns.ServFail("flaky.example.", true)
	two := harness.NewOutInstance(t, harness.OutOpts{Domain: "two.example", IP: "127.0.0.3", DNS: dns.Addr(), RelayPort: 25, Users: []string{"bob"}})
	send := func(from, subject string) {
		r := harness.RunSwaks(t, "--server", two.SMTP, "--ehlo", "client.test", "--from", from, "--to", "bob@two.example",
			"--header", "From: "+from, "--header", "Subject: "+subject, "--body", "text", "--timeout", "20")
		if r.Code != 0 {
			t.Fatalf("%s refused (%d):\n%s%s", from, r.Code, r.Stdout, r.Stderr)
		}
	}
	send("jack+jill@amac.example", "macro")
	send("x@flaky.example", "flaky")
	msgs := two.WaitMail("bob", 2, 30*time.Second)
	got := map[string]string{}
	for _, m := range msgs {
		for _, s := range []string{"macro", "flaky"} {
			if strings.Contains(m, "Subject: "+s+"\n") {
				got[s] = headerField(m, "Authentication-Results")
			}
		}
	}
	t.Logf("macro: %s\nflaky: %s", got["macro"], got["flaky"])
	if !strings.Contains(got["macro"], "spf=pass smtp.mailfrom=amac.example") {
		t.Errorf("macro sender: want spf=pass smtp.mailfrom=amac.example:\n%s", got["macro"])
	}
	if f := got["flaky"]; !strings.Contains(f, "spf=temperror") || !strings.Contains(f, "asked "+dns.Addr()) || !strings.Contains(f, "smtp.mailfrom=flaky.example") {
		t.Errorf("DNS failure: want spf=temperror with a reason naming %s:\n%s", dns.Addr(), f)
	}
}
