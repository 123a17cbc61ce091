package deliver

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Principle 7 for Sieve under ebb serve: a sieve.before script that is
// missing and a user's script that does not compile are skipped (the
// message is kept), and ebb explain of the message says both, not only
// the log.
func TestSieveSkippedScriptsAreInTheDeliveryRecord(t *testing.T) {
	t.Parallel()
	dns := harness.StartDNS(t)
	dir := harness.Dir(t)
	gone := filepath.Join(dir, "gone.sieve")
	one := harness.NewOutInstance(t, harness.OutOpts{Domain: "one.example", IP: "127.0.0.2", DNS: dns.Addr(), RelayPort: 25,
		Users: []string{"alice"}, Extra: "[sieve]\nbefore = [\"" + gone + "\"]\n"})
	home := filepath.Join(one.Dir, "mail", "one.example", "alice")
	os.MkdirAll(home, 0o755)
	if err := os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte("this is not sieve\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(home, one.Daemon.UID, one.Daemon.GID)

	one.Submit("alice@one.example", "alice@one.example", "kept")
	if m := one.WaitMail("alice", 1, 60*time.Second); len(m) != 1 || !strings.Contains(m[0], "Subject: kept") {
		t.Fatalf("alice's mail: %q", m)
	}
	// The delivery's log line comes just after the file is stored.
	var id []string
	harness.WaitForFile(t, "the delivery's log line", 30*time.Second, func() bool {
		id = regexp.MustCompile(`msg=delivered component=deliver queue_id=([A-Z0-9]+) mailbox=alice@one\.example`).FindStringSubmatch(one.Log())
		return id != nil
	}, one.LogFile())
	// The delivered record is written at the queue's delivered event, a
	// moment after the file is stored (and logged): asked again as the log
	// grows.
	var out string
	harness.WaitForFile(t, "the delivered record", 30*time.Second, func() bool {
		out = harness.Run(t, harness.AsUser(exec.Command(harness.Ebb(t), "explain", "-c", one.Conf, id[1]), one.Daemon), nil).Stdout
		return strings.Contains(out, "delivered to")
	}, one.LogFile())
	for _, want := range []string{
		"Sieve script " + gone + " (sieve.before) missing: skipped",
		"Sieve script " + filepath.Join(home, ".dovecot.sieve") + " does not compile",
		"the message is kept",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ebb explain %s lacks %q:\n%s", id[1], want, out)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", harness.Tail(one.Log(), 20))
	}
}
