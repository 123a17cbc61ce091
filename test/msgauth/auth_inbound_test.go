package msgauth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Mail from outside on port 25, judged by SPF, DKIM and DMARC with the
// test DNS: a spoof of a p=reject domain is refused at the end of DATA
// with 550 5.7.1 naming the domain and the failed checks (and is not
// stored); a p=quarantine failure goes to Junk; a DNS failure gives
// temperror and the message is accepted; a forged Authentication-Results
// with our authserv-id is not stored while another server's is; every
// stored message carries exactly one A-R of ours.
func TestAuthInboundVerdicts(t *testing.T) {
	t.Parallel()
	dns := harness.StartDNS(t)
	dns.MustAdd(
		`bank.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.bank.example. 300 IN TXT "v=DMARC1; p=reject"`,
		`shop.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.shop.example. 300 IN TXT "v=DMARC1; p=quarantine"`,
		`friend.example. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
		`_dmarc.friend.example. 300 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.flaky.example. 300 IN TXT "v=DMARC1; p=reject"`,
	)
	dns.ServFail("flaky.example.", true)
	two := harness.NewOutInstance(t, harness.OutOpts{Domain: "two.example", IP: "127.0.0.3", DNS: dns.Addr(), RelayPort: 25, Users: []string{"bob"}})
	// bob's Sieve script reads our results like any header.
	home := filepath.Join(two.Dir, "mail", "two.example", "bob")
	os.MkdirAll(home, 0o700)
	harness.Chown(t, filepath.Dir(home), two.Daemon)
	harness.Chown(t, home, two.Daemon)
	script := filepath.Join(home, ".dovecot.sieve")
	os.WriteFile(script, []byte("require [\"fileinto\", \"mailbox\"];\n"+
		"if header :contains \"Authentication-Results\" \"dmarc=temperror\" { fileinto :create \"Suspect\"; }\n"), 0o644)
	harness.Chown(t, script, two.Daemon)

	send := func(from, headerFrom, subject string, extra ...string) (int, string) {
		args := []string{"--server", two.SMTP, "--ehlo", "client.test", "--from", from, "--to", "bob@two.example",
			"--header", "From: " + headerFrom, "--header", "Subject: " + subject, "--body", "text of " + subject, "--timeout", "20"}
		for _, h := range extra {
			args = append(args, "--add-header", h)
		}
		r := harness.RunSwaks(t, args...)
		return r.Code, r.Stdout + r.Stderr
	}

	// The spoof: refused while the client waits, nothing stored.
	code, out := send("ceo@bank.example", "The CEO <ceo@bank.example>", "spoof")
	if code == 0 || !strings.Contains(out, "550 5.7.1 DMARC policy of bank.example rejects this message: SPF fail for bank.example, DKIM none") {
		t.Errorf("spoof of a p=reject domain (swaks exit %d):\n%s", code, out)
	}

	// Genuine mail of a p=reject domain (SPF aligned) with a forged A-R
	// of ours and a real one of another server above it.
	code, out = send("news@friend.example", "news@friend.example", "genuine",
		"Authentication-Results: mx.two.example; dkim=pass header.d=bank.example; dmarc=pass header.from=bank.example",
		"Authentication-Results: (forged) MX.TWO.EXAMPLE;\n\tspf=pass smtp.mailfrom=bank.example",
		"Authentication-Results: relay.friend.example; spf=pass smtp.mailfrom=friend.example")
	if code != 0 {
		t.Fatalf("genuine mail refused (%d):\n%s", code, out)
	}
	// A DNS failure: temperror, accepted although the domain says reject.
	if code, out = send("x@flaky.example", "x@flaky.example", "flaky"); code != 0 {
		t.Errorf("a DNS failure refused the message (%d):\n%s", code, out)
	}
	// p=quarantine: accepted, into Junk.
	if code, out = send("x@shop.example", "x@shop.example", "quarantined"); code != 0 {
		t.Errorf("quarantine refused (%d):\n%s", code, out)
	}

	msgs := two.WaitMail("bob", 1, 20*time.Second)
	suspect := waitFolder(t, filepath.Join(home, "Maildir", ".Suspect", "new"), 1, two)
	bySubject := map[string]string{}
	for _, m := range append(msgs, suspect...) {
		for _, s := range []string{"spoof", "genuine", "flaky", "quarantined"} {
			if strings.Contains(m, "Subject: "+s+"\n") {
				bySubject[s] = m
			}
		}
	}
	if _, ok := bySubject["spoof"]; ok {
		t.Error("the refused spoof was stored")
	}
	g := bySubject["genuine"]
	ar := headerField(g, "Authentication-Results")
	t.Logf("genuine: %s", ar)
	if n := strings.Count(strings.ToLower(ar), "authentication-results: mx.two.example;"); n != 1 {
		t.Errorf("%d A-R fields of ours, want 1 (the forged ones must go):\n%s", n, ar)
	}
	for _, want := range []string{"spf=pass smtp.mailfrom=friend.example", "dkim=none", "dmarc=pass header.from=friend.example",
		"Authentication-Results: relay.friend.example; spf=pass"} {
		if !strings.Contains(ar, want) {
			t.Errorf("genuine: A-R lacks %q:\n%s", want, ar)
		}
	}
	if strings.Contains(strings.ToLower(g), "forged") || strings.Contains(g, "header.d=bank.example") {
		t.Errorf("a forged A-R survived:\n%s", g)
	}
	if !strings.Contains(suspect[0], "Subject: flaky") {
		t.Errorf("Sieve's header test on Authentication-Results did not file the temperror message:\n%s", suspect[0])
	}
	if len(msgs) != 1 {
		t.Errorf("%d messages in the inbox, want 1 (genuine)", len(msgs))
	}
	f := headerField(bySubject["flaky"], "Authentication-Results")
	t.Logf("flaky: %s", f)
	if !strings.Contains(f, "spf=temperror") || !strings.Contains(f, "dmarc=temperror") {
		t.Errorf("DNS failure: want temperror:\n%s", f)
	}
	// Issue 22: the reason names the resolver that was asked
	// (dns.resolver), not the system's.
	if !strings.Contains(f, "asked "+dns.Addr()) {
		t.Errorf("DNS failure: the reason does not name dns.resolver %s:\n%s", dns.Addr(), f)
	}

	// The quarantined message is in Junk, not in the inbox.
	junk := waitFolder(t, filepath.Join(home, "Maildir", ".Junk", "new"), 1, two)
	if q := headerField(junk[0], "Authentication-Results"); !strings.Contains(q, "dmarc=fail") || !strings.Contains(q, "policy.dmarc=quarantine") {
		t.Errorf("quarantined: %s", q)
	}
	if _, ok := bySubject["quarantined"]; ok {
		t.Error("the quarantined message is in the inbox too")
	}
	// Every Authentication-Results field stored parses with a strict RFC
	// 8601 parser (issue 22).
	dir := t.TempDir()
	var files []string
	for name, m := range bySubject {
		p := filepath.Join(dir, name+".eml")
		os.WriteFile(p, []byte(m), 0o644)
		files = append(files, p)
	}
	authresCheck(t, files...)

	// The log says what happened, with the reference of the refusal.
	log := two.Log()
	for _, w := range []string{"auth: refused by DMARC policy", "auth: DMARC failure quarantined", "Junk", "dmarc=fail(bank.example)"} {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %q:\n%s", w, harness.Tail(log, 10))
		}
	}
}

// waitFolder waits for n messages in a Maildir folder's new/.
func waitFolder(t *testing.T, dir string, n int, e *harness.OutInstance) []string {
	t.Helper()
	if !harness.WaitFiles(dir, n, 15*time.Second) {
		ents, _ := os.ReadDir(dir)
		t.Fatalf("%d messages in %s, want %d; log:\n%s", len(ents), dir, n, harness.Tail(e.Log(), 20))
	}
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, en := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, en.Name()))
		out = append(out, string(b))
	}
	return out
}
