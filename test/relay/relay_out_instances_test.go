package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Two ebb instances on 127.0.0.2 and 127.0.0.3 that find each other
// through the test DNS: alice on the first sends through submission to
// bob on the second. The message arrives once, over TLS (the receiver's
// Received says ESMTPS), the sender's log names the host, IP and cipher,
// and the sender's queue is empty afterwards.
func TestRelayOutTwoInstances(t *testing.T) {
	t.Parallel()
	p := harness.NewPair(t, harness.PairOpts{})
	one, two := p.One, p.Two

	one.Submit("alice@one.example", "bob@two.example", "across")
	msgs := two.WaitMail("bob", 1, 20*time.Second)
	m := msgs[0]
	if !strings.Contains(m, "Subject: across") || !strings.Contains(m, "hello from alice@one.example") {
		t.Errorf("message:\n%s", m)
	}
	if !strings.Contains(m, "by mx.two.example") || !strings.Contains(m, "with ESMTPS") {
		t.Errorf("not received over TLS:\n%s", m)
	}
	log := one.Log()
	if !strings.Contains(log, `"msg":"relayed"`) && !strings.Contains(log, "msg=relayed") {
		t.Fatalf("no relayed line:\n%s", harness.Tail(log, 20))
	}
	for _, w := range []string{"mx.two.example", "127.0.0.3", "TLS"} {
		if !strings.Contains(log, w) {
			t.Errorf("sender log lacks %q:\n%s", w, harness.Tail(log, 20))
		}
	}
	one.WaitMailq(10*time.Second, "Mail queue is empty")
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "relayed") {
			t.Log(l)
		}
	}
	// Exactly once, also after the idle session has closed (relay.idle_timeout):
	// every session two saw has ended.
	harness.WaitFor(t, "two's SMTP sessions to end", 20*time.Second, func() bool {
		l := two.Log()
		n := strings.Count(l, `msg="smtp connect"`)
		return n > 0 && strings.Count(l, `msg="smtp disconnect"`) == n
	})
	if n := two.Count("bob"); n != 1 {
		t.Errorf("bob has %d messages, want 1", n)
	}
	// And back: bob answers alice.
	two.Submit("bob@two.example", "alice@one.example", "reply")
	if r := one.WaitMail("alice", 1, 20*time.Second)[0]; !strings.Contains(r, "Subject: reply") {
		t.Errorf("reply:\n%s", r)
	}
}
