package relay

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// relay.tls_policy verify toward another ebb: while its MX name is not
// the one its certificate names, the message is deferred at STARTTLS
// with the reason and the setting; once the MX record names the
// certificate's host, a flush delivers it over a verified session.
func TestRelayOutVerify(t *testing.T) {
	t.Parallel()
	// two's MX is other.two.example; its certificate (self-signed, for
	// mx.two.example) is the CA one trusts.
	p := harness.NewPair(t, harness.PairOpts{TwoMX: "other.two.example", OneTrustsTwo: true,
		One: harness.OutOpts{Relay: `tls_policy = ["two.example=verify"]`}})
	one, two, dns := p.One, p.Two, p.DNS
	one.Submit("alice@one.example", "bob@two.example", "verified")
	q := one.WaitMailq(20*time.Second, "deferred  <bob@two.example>")
	for _, want := range []string{
		"other.two.example[127.0.0.3] at STARTTLS: TLS handshake: x509: certificate is valid for mx.two.example, not other.two.example",
		`relay.tls_policy = "two.example=verify" at `,
		// A certificate that does not verify needs no more than encrypt.
		`set relay.tls_policy = ["two.example=encrypt"] in ` + one.Conf + `; then restart ebb serve -c ` + one.Conf,
	} {
		if !strings.Contains(q, want) {
			t.Errorf("mailq lacks %q:\n%s", want, q)
		}
	}
	if n := two.Count("bob"); n != 0 {
		t.Fatalf("delivered despite verify: %d", n)
	}
	dns.Remove("two.example.", 0)
	dns.MustAdd("two.example. MX 10 mx.two.example.")
	r := harness.Run(t, exec.Command(harness.Ebb(t), "queue", "flush", "-c", one.Conf, "--domain", "two.example"), nil)
	if r.Code != 0 {
		t.Fatalf("flush: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	m := two.WaitMail("bob", 1, 20*time.Second)[0]
	if !strings.Contains(m, "Subject: verified") || !strings.Contains(m, "with ESMTPS") {
		t.Errorf("message:\n%s", m)
	}
	if !strings.Contains(one.Log(), "tls_level=verify") {
		t.Errorf("not delivered at level verify:\n%s", harness.Tail(one.Log(), 10))
	}
	one.WaitMailq(10*time.Second, "Mail queue is empty")
}
