package relay

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/srs"
	"github.com/ebbmail/ebb/test/harness"
)

// An alias on two.example forwards alice@one.example's mail to remote
// addresses: the copies leave with an SRS sender of two.example; the one
// the remote refuses (550 at RCPT) bounces to that SRS address, which two
// turns back into alice, and the DSN reaches her mailbox on the other
// instance, quoting the remote's words. A forged SRS address is refused
// at RCPT, a valid one coming in over port 25 reaches alice.
func TestSRSForwardAndTheBounceBack(t *testing.T) {
	t.Parallel()
	p := harness.NewPair(t, harness.PairOpts{Hosts: map[string]string{"nouser": "127.0.0.5", "ok": "127.0.0.9"},
		// The last section of the config, so more sections may follow.
		Two: harness.OutOpts{Relay: "\n[srs]\nenable = true\ndomain = \"two.example\"\n"}})
	one, two := p.One, p.Two
	dump := filepath.Join(harness.Dir(t), "dump")
	os.MkdirAll(dump, 0o777)
	os.Chmod(dump, 0o777)
	harness.StartSMTPSink(t, p.At("127.0.0.5"), "-f", "RCPT", "-B", "550 5.1.1 no such user here")
	harness.StartSMTPSink(t, p.At("127.0.0.9"), "-d", dump+"/%M.")
	harness.EbbAs(t, two.Daemon, nil, "alias", "add", "-c", two.Conf, "fwd@two.example", "x@nouser.example", "y@ok.example")

	one.Submit("alice@one.example", "fwd@two.example", "forwarded")

	// The copy that arrived at ok.example has an SRS sender of two.example
	// (smtp-sink writes its dump as the transaction goes: wait for all).
	srsSender := regexp.MustCompile(`X-Mail-Args: <(SRS0=[^>]+)>`)
	got := waitDump(t, dump, "forwarded")
	m := srsSender.FindStringSubmatch(got)
	if m == nil || !strings.HasSuffix(m[1], "=one.example=alice@two.example") {
		t.Fatalf("the forwarded copy's sender is not SRS:\n%s\ntwo's log:\n%s", got, harness.Tail(two.Log(), 30))
	}
	srsAddr := m[1]

	// The bounce of the refused copy comes back through SRS to alice.
	b := one.WaitMail("alice", 1, 40*time.Second)[0]
	d := parseDSNMail(t, b)
	r := dsnRecipient(t, d, "x@nouser.example")
	for k, want := range map[string]string{
		"action":             "failed",
		"status":             "5.1.1",
		"remote-mta":         "dns; mx.nouser.example",
		"diagnostic-code":    "smtp; 550 5.1.1 no such user here",
		"original-recipient": "rfc822; fwd@two.example", // the alias it came through
	} {
		if r[k] != want {
			t.Errorf("%s = %q, want %q (all: %+v)", k, r[k], want, r)
		}
	}
	if d.PerMessage["reporting-mta"] != "dns; mx.two.example" || d.PerMessage["x-original-envelope-from"] != "rfc822; "+srsAddr {
		t.Errorf("per-message fields %+v", d.PerMessage)
	}
	if !strings.Contains(d.Human, "host mx.nouser.example[127.0.0.5] said: 550 5.1.1 no such user here") {
		t.Errorf("human part:\n%s", d.Human)
	}
	if strings.Contains(b, "y@ok.example") && strings.Contains(b, "Final-Recipient: rfc822; y@ok.example") {
		t.Errorf("the DSN names the delivered copy:\n%s", b)
	}

	// A forged SRS address is refused at RCPT; a valid one, made with
	// two's secret, comes in over port 25 and reaches alice.
	forged := strings.Replace(srsAddr, "SRS0="+srsAddr[5:9], "SRS0=AAAA", 1)
	r1 := harness.RunSwaks(t, "--server", two.SMTP, "--from", "", "--to", forged, "--quit-after", "RCPT", "--timeout", "10")
	if !strings.Contains(r1.Stdout, "550 5.7.1") {
		t.Errorf("forged SRS recipient not refused with 550 5.7.1:\n%s", r1.Stdout)
	}
	secret, err := os.ReadFile(filepath.Join(two.Dir, "data", "srs.secret"))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(two.Dir, "data", "srs.secret")); st.Mode().Perm() != 0o600 {
		t.Errorf("srs.secret is mode %o, want 600", st.Mode().Perm())
	}
	rw, err := srs.New(srs.Config{Domain: "two.example", Secrets: []string{strings.TrimSpace(string(secret))}})
	if err != nil {
		t.Fatal(err)
	}
	valid, _ := rw.Forward("alice@one.example")
	r2 := harness.RunSwaks(t, "--server", two.SMTP, "--from", "", "--to", valid, "--header", "Subject: a bounce from elsewhere", "--timeout", "10")
	if r2.Code != 0 {
		t.Fatalf("valid SRS recipient: %d\n%s", r2.Code, r2.Stdout)
	}
	msgs := one.WaitMail("alice", 2, 30*time.Second)
	found := false
	for _, m := range msgs {
		if strings.Contains(m, "Subject: a bounce from elsewhere") {
			found = true
		}
	}
	if !found {
		t.Errorf("the bounce to %s did not reach alice", valid)
	}

	// A Sieve redirect to a remote address leaves with an SRS sender too.
	home := filepath.Join(two.Dir, "mail", "two.example", "bob")
	os.MkdirAll(home, 0o755)
	os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte("require \"copy\";\nredirect :copy \"z@ok.example\";\n"), 0o644)
	harness.Chown(t, home, two.Daemon)
	one.Submit("alice@one.example", "bob@two.example", "redirected")
	two.WaitMail("bob", 1, 20*time.Second)
	redirected := waitDump(t, dump, "redirected")
	if !regexp.MustCompile(`X-Mail-Args: <SRS0=[^=>]+=[A-Z2-7]{2}=one\.example=alice@two\.example>`).MatchString(redirected) ||
		!strings.Contains(redirected, "X-Rcpt-Args: <z@ok.example>") {
		t.Errorf("the redirect did not leave with an SRS sender:\n%s\ntwo's log:\n%s", redirected, harness.Tail(two.Log(), 20))
	}
}

// waitDump waits for the transaction smtp-sink -d dumped (one file per
// transaction, written as it goes) whose message has the subject, and
// returns it once the whole message is in.
func waitDump(t *testing.T, dir, subject string) string {
	t.Helper()
	var got string
	found := func() bool {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			if s := string(b); strings.Contains(s, "Subject: "+subject) && strings.Contains(s, "hello from") {
				got = s
				return true
			}
		}
		return false
	}
	if !harness.WaitOn(30*time.Second, found, dir) {
		t.Fatalf("smtp-sink got no message %q in %s", subject, dir)
	}
	return got
}
