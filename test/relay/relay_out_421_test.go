package relay

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Issue 24: a real Postfix answering the pipelined MAIL FROM with 421 (an
// access rule's "421 text": reply, then hang up, access(5)) was reported
// by mailq as "at RCPT: EOF", the remote's text lost. Now mailq, the log
// and the deferral carry Postfix's 421 at MAIL, with its words; Postfix's
// log shows it said them. The recipient's local part is "mail", a word of
// Postfix's text: mailq's grouped summary keeps the word (it wrote "not
// taking {local} from you now").
func TestRelayOutPostfix421AtMail(t *testing.T) {
	t.Parallel()
	const words = "not taking mail from you now"
	dns := harness.StartDNS(t)
	port := harness.CommonPort(t, "127.0.0.2", "127.0.0.12")
	pf := startPostfixReceiver(t, fmt.Sprintf("127.0.0.12:%d", port),
		"smtpd_delay_reject = no",
		"smtpd_sender_restrictions = check_sender_access inline:{ { alice@one.example = 421 4.7.0 "+words+" } }")
	dns.MustAdd("one.example. MX 10 mx.one.example.", "mx.one.example. A 127.0.0.2",
		"pf.example. MX 10 mx.pf.example.", "mx.pf.example. A 127.0.0.12")
	one := harness.NewOutInstance(t, harness.OutOpts{Domain: "one.example", IP: "127.0.0.2", Port: port, DNS: dns.Addr(), RelayPort: port,
		Users: []string{"alice"}, Relay: `tls = "may"`})
	one.Submit("alice@one.example", "mail@pf.example", "to a postfix that says 421")
	// Postfix's words: "421 4.7.0 <alice@one.example>: Sender address rejected: not taking mail from you now".
	q := one.WaitMailq(20*time.Second, "said at MAIL: 421 4.7.0 <alice@one.example>: Sender address rejected: "+words)
	if strings.Contains(q, "EOF") || strings.Contains(q, "at RCPT") || strings.Contains(q, "{local}") ||
		!strings.Contains(q, "1 deferred: mx.pf.example[127.0.0.12] 421 4.7.0 <alice@one.example>: Sender address rejected: "+words+" (at mail)") {
		t.Errorf("mailq:\n%s", q)
	}
	t.Logf("mailq:\n%s", q)
	if l := pf.log(); !strings.Contains(l, "421 4.7.0 <alice@one.example>: Sender address rejected: "+words) {
		t.Errorf("postfix's log does not show the 421:\n%s", harness.Tail(l, 20))
	}
	if l := one.Log(); !strings.Contains(l, "said at MAIL: 421 4.7.0 <alice@one.example>: Sender address rejected: "+words) {
		t.Errorf("ebb's log:\n%s", harness.Tail(l, 20))
	}
}
