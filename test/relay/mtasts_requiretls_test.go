package relay

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// REQUIRETLS (RFC 8689) end to end: submission offers it only after
// STARTTLS; a message that asks for it reaches the other instance over
// verified TLS (one trusts two's certificate through relay.tls_ca_file),
// and does not leave toward a host without TLS: that recipient waits, and
// mailq says why.
func TestREQUIRETLSTravelsOnlyOverVerifiedTLS(t *testing.T) {
	t.Parallel()
	p := harness.NewPair(t, harness.PairOpts{Hosts: map[string]string{"plain": "127.0.0.4"}, OneTrustsTwo: true})
	one, two := p.One, p.Two
	harness.StartSMTPSink(t, p.At("127.0.0.4"))

	plain := harness.DialSMTP(t, "", one.Sub, false)
	if ehlo := plain.Must(250, "EHLO client.example"); strings.Contains(ehlo, "REQUIRETLS") {
		t.Error("REQUIRETLS offered before STARTTLS")
	}
	plain.Cmd("QUIT")
	c := harness.DialSMTP(t, "", one.Sub, false)
	c.StartTLS()
	if ehlo := c.Must(250, "EHLO client.example"); !strings.Contains(ehlo, "REQUIRETLS") {
		t.Fatal("REQUIRETLS not offered after STARTTLS")
	}
	c.Cmd("QUIT")
	sendREQUIRETLS(t, one.Sub, "alice@one.example", "secret", "bob@two.example", "p@plain.example")

	m := two.WaitMail("bob", 1, 20*time.Second)[0]
	if !strings.Contains(m, "with ESMTPS") || !strings.Contains(m, "only over verified TLS") {
		t.Errorf("bob's copy:\n%s", m)
	}
	log := one.Log()
	if !strings.Contains(log, "tls_level=verify") {
		t.Errorf("the relay did not deliver at level verify:\n%s", harness.Tail(log, 20))
	}
	q := one.WaitMailq(20*time.Second, "<p@plain.example>", "REQUIRETLS")
	if strings.Contains(q, "delivered <p@plain.example>") {
		t.Fatalf("a REQUIRETLS message went to a host without TLS:\n%s", q)
	}
	t.Log(q)
	// ebb queue show names the flag.
	id := strings.Fields(q)[0]
	r := harness.Run(t, exec.Command(harness.Ebb(t), "queue", "show", "-c", one.Conf, id), nil)
	if !strings.Contains(r.Stdout, "requiretls: yes") {
		t.Errorf("queue show %s:\n%s%s", id, r.Stdout, r.Stderr)
	}
}
