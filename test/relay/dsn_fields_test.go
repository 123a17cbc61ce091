package relay

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Issue 24: the failure DSN says only what happened. One message to a
// domain with a null MX (RFC 7505), one that does not exist, and one whose
// MX (Postfix's smtp-sink) refuses RCPT with a bare "550 no such user
// here": Remote-MTA appears only for the MX that answered (RFC 3464
// §2.3.5: never for a failure no MTA took part in), and its
// Diagnostic-Code is the reply as sent, with no enhanced code added
// (§2.3.6); Status takes the class, 5.0.0.
func TestDSNFieldsForFailuresWithAndWithoutAnMTA(t *testing.T) {
	t.Parallel()
	dns := harness.StartDNS(t)
	port := harness.CommonPort(t, "127.0.0.2", "127.0.0.6")
	harness.StartSMTPSink(t, fmt.Sprintf("127.0.0.6:%d", port), "-f", "RCPT", "-B", "550 no such user here")
	dns.MustAdd("one.example. MX 10 mx.one.example.", "mx.one.example. A 127.0.0.2",
		"nullmx.example. MX 0 .", "bare.example. MX 10 mx.bare.example.", "mx.bare.example. A 127.0.0.6")
	one := harness.NewOutInstance(t, harness.OutOpts{Domain: "one.example", IP: "127.0.0.2", Port: port, DNS: dns.Addr(), RelayPort: port,
		Users: []string{"alice"}, Relay: `tls = "none"`})
	for _, to := range []string{"x@nullmx.example", "x@nxdomain.example", "x@bare.example"} {
		one.Submit("alice@one.example", to, "to "+to)
	}
	msgs := one.WaitMail("alice", 3, 40*time.Second)
	got := map[string]map[string]string{}
	for _, m := range msgs {
		d := parseDSNMail(t, m)
		for _, r := range d.Recipients {
			got[r["final-recipient"]] = r
		}
		if strings.Contains(d.Human, "host nullmx.example") || strings.Contains(d.Human, "host nxdomain.example") {
			t.Errorf("the human part names a host for a failure no MTA took part in:\n%s", d.Human)
		}
	}
	for _, a := range []string{"x@nullmx.example", "x@nxdomain.example"} {
		r := got["rfc822; "+a]
		if r == nil {
			t.Fatalf("no DSN block for %s: %v", a, got)
		}
		if v, ok := r["remote-mta"]; ok {
			t.Errorf("%s: Remote-MTA %q for a failure in the DNS", a, v)
		}
	}
	if s := got["rfc822; x@nullmx.example"]["status"]; s != "5.1.10" {
		t.Errorf("null MX status %q, want 5.1.10 (RFC 7505)", s)
	}
	r := got["rfc822; x@bare.example"]
	for k, want := range map[string]string{"remote-mta": "dns; mx.bare.example", "diagnostic-code": "smtp; 550 no such user here", "status": "5.0.0"} {
		if r[k] != want {
			t.Errorf("x@bare.example: %s = %q, want %q (all %v)", k, r[k], want, r)
		}
	}
}
