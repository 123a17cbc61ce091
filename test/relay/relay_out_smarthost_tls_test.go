package relay

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Smarthost TLS does what ebb config defaults says (issue 21, item 6):
// STARTTLS is required toward a smarthost unless relay.tls = "none". A
// smarthost without STARTTLS (Postfix's smtp-sink) gets nothing: the
// message waits, mailq says why and which setting, and ebb route shows the
// level and the setting that chose it. With relay.tls = "none" the same
// smarthost gets the message in the clear, as asked.
func TestSmarthostWithoutSTARTTLSGetsNothingInTheClear(t *testing.T) {
	t.Parallel()
	dns := harness.StartDNS(t)
	sinkDir := harness.Dir(t)
	os.Chmod(sinkDir, 0o777) // smtp-sink runs as nobody and writes its dumps here
	port := harness.FreePort(t)
	sink := fmt.Sprintf("127.0.0.7:%d", port)
	harness.StartSMTPSink(t, sink, "-d", filepath.Join(sinkDir, "%M."))
	dumps := func() int {
		m, _ := filepath.Glob(filepath.Join(sinkDir, "*.*"))
		return len(m)
	}

	one := harness.NewOutInstance(t, harness.OutOpts{Domain: "one.example", IP: "127.0.0.2", DNS: dns.Addr(), RelayPort: 1, Users: []string{"alice"},
		Relay: fmt.Sprintf("smarthost = %q", sink)})
	msg := filepath.Join(one.Dir, "m.eml")
	os.WriteFile(msg, []byte("From: alice@one.example\r\nSubject: x\r\n\r\nhi\r\n"), 0o644)
	route := harness.Run(t, exec.Command(harness.Ebb(t), "route", "-c", one.Conf, "--port", "587", "--auth", "alice@one.example", "--from", "alice@one.example", "--to", "bob@far.example", msg), nil)
	if want := "smarthost " + sink + " (relay.smarthost), TLS encrypt (relay.smarthost_tls)"; !strings.Contains(route.Stdout, want) {
		t.Errorf("ebb route lacks %q:\n%s%s", want, route.Stdout, route.Stderr)
	}
	one.Submit("alice@one.example", "bob@far.example", "through a smarthost without TLS")
	q := one.WaitMailq(20*time.Second, "does not offer STARTTLS and TLS is required", "relay.smarthost_tls")
	if n := dumps(); n != 0 {
		t.Errorf("the smarthost without STARTTLS got %d messages in the clear:\n%s", n, q)
	}

	// relay.tls = "none": the administrator asked for the clear.
	clear := harness.NewOutInstance(t, harness.OutOpts{Domain: "one.example", IP: "127.0.0.4", DNS: dns.Addr(), RelayPort: 1, Users: []string{"alice"},
		Relay: fmt.Sprintf("smarthost = %q\ntls = \"none\"", sink)})
	route = harness.Run(t, exec.Command(harness.Ebb(t), "route", "-c", clear.Conf, "--port", "587", "--auth", "alice@one.example", "--from", "alice@one.example", "--to", "bob@far.example", msg), nil)
	if want := "TLS none (relay.tls)"; !strings.Contains(route.Stdout, want) {
		t.Errorf("ebb route lacks %q:\n%s", want, route.Stdout)
	}
	clear.Submit("alice@one.example", "bob@far.example", "in the clear, as asked")
	clear.WaitMailq(20*time.Second, "Mail queue is empty")
	if n := dumps(); n != 1 {
		t.Errorf("the smarthost got %d messages with relay.tls = none, want 1", n)
	}
}
