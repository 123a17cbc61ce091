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

// The smarthost route: one's mail to anyone goes through two's
// submission port (STARTTLS, AUTH PLAIN with relay.credentials), and
// ebb doctor checks the credentials file, the login, the resolver and
// outbound port 25.
func TestRelayOutSmarthostAndDoctor(t *testing.T) {
	t.Parallel()
	dns := harness.StartDNS(t)
	dns.MustAdd("two.example. MX 10 mx.two.example.", "mx.two.example. A 127.0.0.3")
	two := harness.NewOutInstance(t, harness.OutOpts{Domain: "two.example", IP: "127.0.0.3", DNS: dns.Addr(), RelayPort: 1, Users: []string{"bob", "relayuser"},
		Sub: `sender_policy = "any"`})
	dir := harness.Dir(t)
	creds := filepath.Join(dir, "smarthost.cred")
	os.WriteFile(creds, []byte("relayuser@two.example:"+harness.OutPass+"\n"), 0o600)
	daemon := harness.EnsureUser(t, "ebbvmail")
	harness.Chown(t, creds, daemon)
	// one knows no MX at all: everything goes through the smarthost.
	one := harness.NewOutInstance(t, harness.OutOpts{Domain: "one.example", IP: "127.0.0.2", DNS: dns.Addr(), RelayPort: 1, Users: []string{"alice"},
		Relay: fmt.Sprintf("smarthost = %q\ncredentials = %q\nport25_probe = %q", two.Sub, creds, two.SMTP)}) // relay.tls stays may: a smarthost gets TLS all the same
	one.Submit("alice@one.example", "bob@two.example", "via smarthost")
	m := two.WaitMail("bob", 1, 20*time.Second)[0]
	if !strings.Contains(m, "Subject: via smarthost") || !strings.Contains(m, "with ESMTPSA") {
		t.Errorf("not received through an authenticated TLS session:\n%s", m)
	}
	one.WaitMailq(10*time.Second, "Mail queue is empty")

	doctor := func(conf string) string {
		r := harness.Run(t, exec.Command(harness.Ebb(t), "doctor", "-c", conf), nil)
		return r.Stdout + r.Stderr
	}
	out := doctor(one.Conf)
	for _, want := range [][]string{
		{"ok", "relay.dns", "answers (MX of one.example)"},
		{"ok", "relay.credentials", creds + ": readable by ebbvmail only (mode 0600)"},
		{"ok", "relay.smarthost", two.Sub + ": 127.0.0.3[127.0.0.3] answered over TLS 1.3", "login accepted"},
		{"ok", "relay.port25", two.SMTP + ": outbound connections to port 25 work"},
	} {
		if l := finding(out, want[0], want[1]); !containsAll(l, want[2:]...) {
			t.Errorf("doctor's %s %s is %q, want %q; all:\n%s", want[0], want[1], l, want[2:], out)
		}
	}
	// A password others can read, a wrong password, port 25 closed, a
	// resolver that does not answer.
	os.Chmod(creds, 0o644)
	os.WriteFile(creds, []byte("relayuser@two.example:wrong\n"), 0o644)
	conf, _ := os.ReadFile(one.Conf)
	bad := strings.Replace(string(conf), fmt.Sprintf("port25_probe = %q", two.SMTP), `port25_probe = "127.0.0.3:1"`, 1)
	bad = strings.Replace(bad, fmt.Sprintf("resolver = %q", dns.Addr()), `resolver = "127.0.0.1:1"`, 1)
	badConf := filepath.Join(one.Dir, "bad.toml")
	os.WriteFile(badConf, []byte(bad), 0o644)
	out = doctor(badConf)
	for _, want := range [][]string{
		{"FAIL", "relay.dns", "dns.resolver", "127.0.0.1:1"},
		{"FAIL", "relay.credentials", "other users can read it (mode 0644)", "chmod 0600 " + creds},
		{"FAIL", "relay.smarthost", "said at AUTH: 535", "relay.credentials"},
		{"WARN", "relay.port25", "connection refused", "relay.smarthost, so a blocked port 25 does not matter"},
	} {
		if l := finding(out, want[0], want[1]); !containsAll(l, want[2:]...) {
			t.Errorf("doctor's %s %s is %q, want %q; all:\n%s", want[0], want[1], l, want[2:], out)
		}
	}
}

// finding is the line of doctor's text output with that status and check.
func finding(out, status, check string) string {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == status && f[1] == check {
			return l
		}
	}
	return ""
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return s != ""
}
