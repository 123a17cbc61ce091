package msgauth

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Mail of ours whose From: domain has no DKIM key (two.example has none)
// leaves unsigned, and says so (principle 7): the log names the queue
// item, and its relayed recipient's record tells why (ebb explain).
func TestUnsignedOutgoingMailIsSaid(t *testing.T) {
	t.Parallel()
	one, two := forgeryInstances(t)
	two.Submit("bob@two.example", "alice@one.example", "no key")
	if m := one.WaitMail("alice", 1, time.Minute); strings.Contains(m[0], "DKIM-Signature:") {
		t.Fatalf("bob's message arrived signed:\n%.1500s", m[0])
	}
	id := regexp.MustCompile(`dkim: message leaves unsigned: no key.* queue_id=([A-Z0-9]+) from_domains=two\.example`).FindStringSubmatch(two.Log())
	if id == nil {
		t.Fatalf("two's log does not say the message left unsigned:\n%s", harness.Tail(two.Log(), 30))
	}
	want := "; not DKIM-signed: no DKIM key for two.example (nor an organizational domain of it) in "
	var out string
	harness.WaitFor(t, "ebb explain "+id[1]+" to tell the relayed record", time.Minute, func() bool {
		out = harness.Run(t, harness.AsUser(exec.Command(harness.Ebb(t), "explain", "-c", two.Conf, id[1]), two.Daemon), nil).Stdout
		return strings.Contains(out, "relayed to ")
	})
	if !strings.Contains(out, want) {
		t.Errorf("ebb explain %s lacks %q:\n%s", id[1], want, out)
	}
}
