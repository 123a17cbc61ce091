package relay

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// One message to recipients whose servers (Postfix's smtp-sink on their
// own loopback IPs, found through the test DNS) answer differently at
// chosen steps, plus a server that is down, a null MX and a domain whose
// DNS fails. Each recipient ends in its state with the remote's words
// and our diagnosis in mailq, grouped by cause; the sender gets one
// bounce naming the permanent failures.
func TestRelayOutRemoteOutcomes(t *testing.T) {
	t.Parallel()
	dns := harness.StartDNS(t)
	ips := []string{"127.0.0.2", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8", "127.0.0.9"}
	port := harness.CommonPort(t, ips...)
	at := func(ip string) string { return fmt.Sprintf("%s:%d", ip, port) }
	harness.StartSMTPSink(t, at("127.0.0.4"), "-r", "RCPT", "-b", "451 4.7.1 greylisted, try later")
	harness.StartSMTPSink(t, at("127.0.0.5"), "-f", "RCPT", "-B", "550 5.1.1 no such user here")
	harness.StartSMTPSink(t, at("127.0.0.6"), "-f", ".", "-B", "554 5.7.1 message looks like spam")
	harness.StartSMTPSink(t, at("127.0.0.7"), "-w", "6")
	harness.StartSMTPSink(t, at("127.0.0.9"))
	// 127.0.0.8 listens nowhere: down.
	dns.MustAdd("one.example. MX 10 mx.one.example.", "mx.one.example. A 127.0.0.2")
	for name, ip := range map[string]string{"greylist": "127.0.0.4", "nouser": "127.0.0.5", "spam": "127.0.0.6",
		"slow": "127.0.0.7", "down": "127.0.0.8", "ok": "127.0.0.9"} {
		dns.MustAdd(fmt.Sprintf("%s.example. MX 10 mx.%s.example.", name, name), fmt.Sprintf("mx.%s.example. A %s", name, ip))
	}
	dns.MustAdd("nullmx.example. MX 0 .")
	dns.ServFail("servfail.example.", true)

	one := harness.NewOutInstance(t, harness.OutOpts{Domain: "one.example", IP: "127.0.0.2", Port: port, DNS: dns.Addr(), RelayPort: port,
		Users: []string{"alice"}, Relay: `command_timeout = "2s"`})
	rcpts := []string{"a@greylist.example", "b@nouser.example", "c@spam.example", "d@slow.example", "e@down.example",
		"f@nullmx.example", "g@servfail.example", "h@ok.example"}
	r := harness.RunSwaks(t, "--server", one.Sub, "--tls", "--auth", "PLAIN", "--auth-user", "alice@one.example", "--auth-password", harness.OutPass,
		"--from", "alice@one.example", "--to", strings.Join(rcpts, ","), "--header", "Subject: outcomes", "--timeout", "20")
	if r.Code != 0 {
		t.Fatalf("swaks: %d\n%s", r.Code, r.Stdout)
	}
	q := one.WaitMailq(40*time.Second, "8 recipients: 4 deferred, 3 failed, 1 delivered")
	for _, want := range []string{
		// The summary groups by who said what, at which step.
		"1 deferred: mx.greylist.example[127.0.0.4] 451 4.7.1 greylisted, try later (at rcpt)",
		"1 failed: mx.nouser.example[127.0.0.5] 550 5.1.1 no such user here (at rcpt)",
		"1 failed: mx.spam.example[127.0.0.6] 554 5.7.1 message looks like spam (at end-of-data)",
		"1 deferred: cannot deliver to {address}: mx.down.example[127.0.0.8] at connect: connection refused",
		"1 deferred: cannot deliver to {address}: mx.slow.example[127.0.0.7] at MAIL, RCPT and DATA (pipelined, no reply): i/o timeout",
		"1 failed: cannot deliver to {address}: {domain} publishes a null MX (RFC 7505): it accepts no mail",
		"1 deferred: cannot deliver to {address}: MX lookup of {domain}: the DNS server answered SERVFAIL or refused",
		// Per recipient: our diagnosis and its fix.
		"delivered <h@ok.example>",
		"ebb relay: cannot deliver to b@nouser.example: mx.nouser.example[127.0.0.5] said at RCPT: 550 5.1.1 no such user here. Fix: the remote server refused the address",
		`set by dns.resolver = "` + dns.Addr() + `"`,
	} {
		if !strings.Contains(q, want) {
			t.Errorf("mailq lacks %q:\n%s", want, q)
		}
	}
	// One bounce for the three permanent failures, quoting the remotes.
	b := one.WaitMail("alice", 1, 20*time.Second)[0]
	for _, want := range []string{"550 5.1.1 no such user here", "554 5.7.1 message looks like spam", "b@nouser.example", "c@spam.example", "f@nullmx.example"} {
		if !strings.Contains(b, want) {
			t.Errorf("bounce lacks %q:\n%s", want, b)
		}
	}
	for _, not := range []string{"a@greylist.example", "h@ok.example"} {
		if strings.Contains(b, "Final-Recipient: rfc822; "+not) {
			t.Errorf("bounce names %s", not)
		}
	}
}
