package relay

import (
	"fmt"
	"os/exec"
	"path/filepath"
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
	dns := harness.StartDNS(t)
	port := harness.CommonPort(t, "127.0.0.2", "127.0.0.3", "127.0.0.4")
	harness.StartSMTPSink(t, fmt.Sprintf("127.0.0.4:%d", port))
	for name, ip := range map[string]string{"one": "127.0.0.2", "two": "127.0.0.3", "plain": "127.0.0.4"} {
		dns.MustAdd(fmt.Sprintf("%s.example. MX 10 mx.%s.example.", name, name), fmt.Sprintf("mx.%s.example. A %s", name, ip))
	}
	two := harness.NewOutInstance(t, harness.OutOpts{Domain: "two.example", IP: "127.0.0.3", Port: port, DNS: dns.Addr(), RelayPort: port, Users: []string{"bob"}})
	one := harness.NewOutInstance(t, harness.OutOpts{Domain: "one.example", IP: "127.0.0.2", Port: port, DNS: dns.Addr(), RelayPort: port, Users: []string{"alice"},
		Relay: fmt.Sprintf("tls_ca_file = %q", filepath.Join(two.Dir, "out-cert.pem"))})

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
