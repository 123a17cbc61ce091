package relay

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Issue 24: for an MX whose certificate does not verify under the
// domain's MTA-STS policy (mode enforce), ebb's fix was relay.tls_policy =
// ["D=may"], which changes nothing: the published policy is applied after
// it. Following that still defers; following the fix ebb now gives,
// literally (mailq --json's steps), delivers: the domain goes into
// mta_sts.exempt, ebb serve restarts, the message leaves, and the
// exemption is logged and counted.
func TestRelayOutMTASTSCertificateFixWorks(t *testing.T) {
	t.Parallel()
	httpsPort, caFile := startPolicyHosts(t, map[string]string{
		"two.example": "version: STSv1\r\nmode: enforce\r\nmx: mx.two.example\r\nmax_age: 86400\r\n",
	})
	// two's certificate is self-signed: nothing one trusts.
	p := harness.NewPair(t, harness.PairOpts{
		Records: []string{`_mta-sts.two.example. TXT "v=STSv1; id=20261207T1000"`, "mta-sts.two.example. A 127.0.0.1"},
		One:     harness.OutOpts{Queue: "retry_min = \"1h\"", Relay: fmt.Sprintf("\n[mta_sts]\nca_file = %q\nport = %d\n", caFile, httpsPort)}})
	one, two := p.One, p.Two
	one.Submit("alice@one.example", "bob@two.example", "sts certificate")
	want := "at STARTTLS: TLS handshake: x509: certificate signed by unknown authority"
	q := one.WaitMailq(20*time.Second, want)
	for _, w := range []string{"publishes an MTA-STS policy in mode enforce", "set mta_sts.exempt = [\"two.example\"] in " + one.Conf, "restart ebb serve -c " + one.Conf} {
		if !strings.Contains(q, w) {
			t.Errorf("mailq lacks %q:\n%s", w, q)
		}
	}
	if strings.Contains(q, "set relay.tls_policy") {
		t.Errorf("the fix still names relay.tls_policy, which MTA-STS overrides:\n%s", q)
	}

	// The old fix, followed: still deferred, for the same reason.
	harness.SetTOML(t, one.Conf, "relay.tls_policy", `["two.example=may"]`)
	one.Restart()
	flush(t, one.Conf)
	one.WaitMailq(20*time.Second, "attempts 2", want)
	if n := two.Count("bob"); n != 0 {
		t.Fatalf("delivered after relay.tls_policy = may: the MTA-STS policy was not applied")
	}

	// The fix ebb gives, followed literally: its "or instead" steps.
	fix := one.QueuedFix()
	if fix.Or == nil {
		t.Fatalf("the fix has no way to deliver anyway: %s", fix)
	}
	t.Logf("following: %s", fix.Or)
	one.Follow(fix.Or.Steps)
	flush(t, one.Conf)
	m := two.WaitMail("bob", 1, 20*time.Second)[0]
	if !strings.Contains(m, "Subject: sts certificate") {
		t.Errorf("bob's copy:\n%s", m)
	}
	if l := one.Log(); !strings.Contains(l, "MTA-STS: policy not applied, the domain is exempt") {
		t.Errorf("the exemption is not logged:\n%s", harness.Tail(l, 15))
	}
	// The delivery's TLS policy (explain, mailq) names it too.
	if l := one.Log(); !strings.Contains(l, `; MTA-STS policy of two.example not applied (mta_sts.exempt lists two.example)"`) {
		t.Errorf("the delivery's tls_policy does not name the exemption:\n%s", harness.Tail(l, 15))
	}
	one.WaitMailq(10*time.Second, "Mail queue is empty")
}

// Issue 24: the fix for a REQUIRETLS message whose next hop cannot give
// verified TLS suggested lowering relay.tls_policy, a downgrade RFC 8689
// §4.2.1 forbids (and one that REQUIRETLS overrides anyway). Now it says
// there is nothing to change here, and what the recipient's postmaster
// must do; done (the MX record names the host the certificate is for),
// the message leaves, still over verified TLS.
func TestRelayOutREQUIRETLSFixAsksNoDowngrade(t *testing.T) {
	t.Parallel()
	p := harness.NewPair(t, harness.PairOpts{TwoMX: "other.two.example", OneTrustsTwo: true, One: harness.OutOpts{Queue: "retry_min = \"1h\""}})
	one, two, dns := p.One, p.Two, p.DNS
	sendREQUIRETLS(t, one.Sub, "alice@one.example", "requiretls", "bob@two.example")
	q := one.WaitMailq(20*time.Second, "certificate is valid for mx.two.example, not other.two.example")
	for _, w := range []string{"REQUIRETLS (RFC 8689)", "nothing to change here", "ebb never sends it another way"} {
		if !strings.Contains(q, w) {
			t.Errorf("mailq lacks %q:\n%s", w, q)
		}
	}
	for _, bad := range []string{"set relay.tls_policy", "=may", "=encrypt", "without REQUIRETLS", "mta_sts.exempt"} {
		if strings.Contains(q, bad) {
			t.Errorf("the fix suggests a downgrade (%q):\n%s", bad, q)
		}
	}
	// Two's postmaster does what the fix asks: the MX record names the
	// host its certificate is for.
	dns.Remove("two.example.", 0)
	dns.MustAdd("two.example. MX 10 mx.two.example.")
	flush(t, one.Conf)
	m := two.WaitMail("bob", 1, 20*time.Second)[0]
	if !strings.Contains(m, "Subject: requiretls") || !strings.Contains(m, "with ESMTPS") {
		t.Errorf("bob's copy:\n%s", m)
	}
	if !strings.Contains(one.Log(), "tls_level=verify") {
		t.Errorf("not delivered at level verify:\n%s", harness.Tail(one.Log(), 10))
	}
}

func flush(t *testing.T, conf string) {
	t.Helper()
	if r := harness.Run(t, exec.Command(harness.Ebb(t), "queue", "flush", "-c", conf), nil); r.Code != 0 {
		t.Fatalf("flush: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
}

// sendREQUIRETLS submits one message with MAIL FROM ... REQUIRETLS over
// STARTTLS and AUTH, to every address in to.
func sendREQUIRETLS(t *testing.T, sub, from, subject string, to ...string) {
	t.Helper()
	c := harness.DialSMTP(t, "", sub, false)
	c.StartTLS()
	if code, msg := c.AuthPlain(from, harness.OutPass); code != 235 {
		t.Fatalf("AUTH as %s: %d %s", from, code, msg)
	}
	c.Must(250, "MAIL FROM:<"+from+"> REQUIRETLS")
	for _, rcpt := range to {
		c.Must(250, "RCPT TO:<"+rcpt+">")
	}
	c.Must(354, "DATA")
	c.Must(250, fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nonly over verified TLS\r\n.", from, strings.Join(to, ", "), subject))
	c.Cmd("QUIT")
}

// The fix for a TLS level set here (relay.tls, relay.tls_policy), followed
// literally: a certificate that does not verify at level verify gets the
// domain at encrypt (no lower); a server without STARTTLS at level
// encrypt gets it at may. Each time the message then leaves.
func TestRelayOutTLSLevelFixWorks(t *testing.T) {
	t.Parallel()
	p := harness.NewPair(t, harness.PairOpts{Hosts: map[string]string{"plain": "127.0.0.4"},
		One: harness.OutOpts{Queue: "retry_min = \"1h\"", Relay: `tls_policy = ["two.example=verify", "plain.example=encrypt"]`}})
	one, two := p.One, p.Two
	harness.StartSMTPSink(t, p.At("127.0.0.4"))

	one.Submit("alice@one.example", "bob@two.example", "verify")
	one.WaitMailq(20*time.Second, "certificate signed by unknown authority", `set relay.tls_policy = ["plain.example=encrypt", "two.example=encrypt"]`)
	fix := one.QueuedFix()
	t.Logf("following: %s", fix.Or)
	one.Follow(fix.Or.Steps)
	flush(t, one.Conf)
	two.WaitMail("bob", 1, 20*time.Second)
	if !strings.Contains(one.Log(), "tls_level=encrypt") {
		t.Errorf("not delivered at level encrypt:\n%s", harness.Tail(one.Log(), 10))
	}
	one.WaitMailq(10*time.Second, "Mail queue is empty")

	one.Submit("alice@one.example", "p@plain.example", "encrypt")
	one.WaitMailq(20*time.Second, "does not offer STARTTLS", `set relay.tls_policy = ["two.example=encrypt", "plain.example=may"]`)
	fix = one.QueuedFix()
	t.Logf("following: %s", fix.Or)
	one.Follow(fix.Or.Steps)
	flush(t, one.Conf)
	one.WaitMailq(20*time.Second, "Mail queue is empty")
}
