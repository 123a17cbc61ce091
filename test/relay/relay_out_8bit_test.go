package relay

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Issue 24: an 8-bit body its sender did not declare BODY=8BITMIME went
// raw to a server that does not offer 8BITMIME. RFC 6152 §3: convert it or
// return it; ebb returns it. A real Postfix with 8BITMIME taken out of its
// EHLO (smtpd_discard_ehlo_keywords) gets nothing, and the sender gets a
// DSN with 5.6.3 saying why.
func TestRelayOutUndeclared8BitTo7BitPostfix(t *testing.T) {
	t.Parallel()
	dns := harness.StartDNS(t)
	port := harness.CommonPort(t, "127.0.0.2", "127.0.0.12")
	pf := startPostfixReceiver(t, fmt.Sprintf("127.0.0.12:%d", port), "smtpd_discard_ehlo_keywords = 8bitmime")
	dns.MustAdd("one.example. MX 10 mx.one.example.", "mx.one.example. A 127.0.0.2",
		"pf.example. MX 10 mx.pf.example.", "mx.pf.example. A 127.0.0.12")
	one := harness.NewOutInstance(t, harness.OutOpts{Domain: "one.example", IP: "127.0.0.2", Port: port, DNS: dns.Addr(), RelayPort: port,
		Users: []string{"alice"}, Relay: `tls = "may"`})
	// swaks sends the 8-bit body as it is, without BODY=8BITMIME.
	r := harness.RunSwaks(t, "--server", one.Sub, "--tls", "--auth", "PLAIN", "--auth-user", "alice@one.example", "--auth-password", harness.OutPass,
		"--from", "alice@one.example", "--to", "bob@pf.example", "--header", "Subject: 8-bit", "--body", "Grüße aus Köln", "--timeout", "20")
	if r.Code != 0 || strings.Contains(r.Stdout, "BODY=8BITMIME") {
		t.Fatalf("swaks: %d\n%s", r.Code, r.Stdout)
	}
	dsn := one.WaitMail("alice", 1, 30*time.Second)[0]
	d := parseDSNMail(t, dsn)
	rc := dsnRecipient(t, d, "bob@pf.example")
	if rc["status"] != "5.6.3" || rc["action"] != "failed" || !strings.Contains(d.Human, "takes only 7-bit mail") {
		t.Errorf("DSN %v\n%s", rc, d.Human)
	}
	if files, _ := filepath.Glob(filepath.Join(pf.Mail, "pf.example", "bob", "new", "*")); len(files) != 0 {
		b, _ := os.ReadFile(files[0])
		t.Errorf("Postfix without 8BITMIME got the 8-bit message raw:\n%s", b)
	}
	if l := one.Log(); !strings.Contains(l, "not declared by its sender, but there") {
		t.Errorf("ebb's log:\n%s", harness.Tail(l, 10))
	}
}
