package relay

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// What Sieve sends leaves too: bob on two writes to alice on one, whose
// script keeps the message, redirects a copy to carol on two and answers
// with a vacation reply; both reach two through the relay.
func TestRelayOutSieveRedirectAndVacation(t *testing.T) {
	t.Parallel()
	p := harness.NewPair(t, harness.PairOpts{Two: harness.OutOpts{Users: []string{"bob", "carol"}}})
	one, two := p.One, p.Two
	home := filepath.Join(one.Dir, "mail", "one.example", "alice")
	os.MkdirAll(home, 0o755)
	script := `require ["vacation", "copy"];
redirect :copy "carol@two.example";
vacation :days 1 :subject "away" "alice is away until Monday.";
`
	if err := os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(home, one.Daemon.UID, one.Daemon.GID)

	two.Submit("bob@two.example", "alice@one.example", "are you there")
	kept := one.WaitMail("alice", 1, 20*time.Second)[0]
	if !strings.Contains(kept, "Subject: are you there") {
		t.Errorf("kept:\n%s", kept)
	}
	red := two.WaitMail("carol", 1, 20*time.Second)[0]
	if !strings.Contains(red, "Subject: are you there") {
		t.Errorf("redirected copy:\n%s", red)
	}
	vac := two.WaitMail("bob", 1, 20*time.Second)[0]
	if !strings.Contains(vac, "alice is away until Monday.") || !strings.Contains(vac, "Auto-Submitted: auto-replied") {
		t.Errorf("vacation reply:\n%s", vac)
	}
	one.WaitMailq(10*time.Second, "Mail queue is empty")
}
