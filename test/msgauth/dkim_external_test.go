package msgauth

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

var dmarcFail = regexp.MustCompile(`(?i)^Authentication-Results: mx\.two\.example; .*dmarc=fail .*header\.from=one\.example`)

// A forged From: of a hosted domain that came in on port 25 (the domain
// publishes DMARC p=none, so it is accepted) and is sent on by an alias
// leaves without ebb's signature: at the next hop it fails DMARC, as a
// forgery should, instead of passing with one.example's own key. What
// alice submits to the same alias leaves signed and passes.
func TestDKIMForgedHostedFromIsNotSignedOnItsWayOut(t *testing.T) {
	t.Parallel()
	one, two := forgeryInstances(t)
	harness.EbbAs(t, one.Daemon, nil, "alias", "add", "-c", one.Conf, "fwd@one.example", "bob@two.example")

	// The forgery, from a stranger on port 25.
	sendForgery(t, one, "x@elsewhere.example", "fwd@one.example")
	// Then alice's own, through the same alias.
	one.Submit("alice@one.example", "fwd@one.example", "genuine")

	if m, ar, sig := forgeryAndOther(t, two, "the forgery", "genuine"); m != "" &&
		(!strings.Contains(sig, "d=one.example") || !strings.Contains(ar, "dmarc=pass header.from=one.example")) {
		t.Errorf("alice's message through the alias left unsigned, or failed DMARC (%s):\n%.1500s", ar, m)
	}
	if t.Failed() {
		t.Logf("one's log:\n%s", harness.Tail(one.Log(), 30))
	}
}

// The same through a user's Sieve script: a redirect of the forgery
// leaves unsigned, and a vacation response cannot be written as another
// user (:from "ceo@one.example" from alice's script): it comes from
// alice, signed.
func TestSieveCannotLendOurSignatureToAnotherAuthor(t *testing.T) {
	t.Parallel()
	one, two := forgeryInstances(t)
	home := filepath.Join(one.Dir, "mail", "one.example", "alice")
	os.MkdirAll(home, 0o755)
	script := `require ["vacation", "copy"];
redirect :copy "bob@two.example";
vacation :days 1 :from "The CEO <ceo@one.example>" :subject "invoice" "Pay the invoice today.";
`
	if err := os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(home, one.Daemon.UID, one.Daemon.GID)

	// The forgery to alice from a stranger whose envelope is bob's: the
	// redirect and the vacation response both go to bob.
	sendForgery(t, one, "bob@two.example", "alice@one.example")

	if m, ar, sig := forgeryAndOther(t, two, "the redirected forgery", "invoice"); m != "" {
		if from := headerField(m, "From"); !strings.Contains(from, "alice@one.example") || strings.Contains(from, "ceo@") {
			t.Errorf("the vacation response is written as %q, want alice's address:\n%.1500s", from, m)
		}
		if !strings.Contains(sig, "d=one.example") || !strings.Contains(ar, "dmarc=pass header.from=one.example") {
			t.Errorf("alice's vacation response left unsigned, or failed DMARC (%s)", ar)
		}
	}
	if !strings.Contains(one.Log(), "vacation :from is not an address of the mailbox") {
		t.Errorf("one's log does not say the :from was replaced")
	}
	// The response's queue item says it too (principle 7: a record, not
	// only the log and ebb_sieve_vacation_from_replaced_total).
	if m := regexp.MustCompile(`sieve: vacation response queued.* to=bob@two\.example queue_id=([A-Z0-9]+)`).FindStringSubmatch(one.Log()); m == nil {
		t.Errorf("one's log does not name the vacation response's queue id")
	} else {
		out := harness.Run(t, harness.AsUser(exec.Command(harness.Ebb(t), "explain", "-c", one.Conf, m[1]), one.Daemon), nil)
		want := `checked by sieve: vacation response sent from <alice@one.example>, the mailbox's own address, not from the script's :from "The CEO <ceo@one.example>"`
		if !strings.Contains(out.Stdout, want) || !strings.Contains(out.Stdout, "(submission.sender_policy); it answers queue item ") {
			t.Errorf("ebb explain %s (the vacation response) lacks %q:\n%s%s", m[1], want, out.Stdout, out.Stderr)
		}
	}
	if t.Failed() {
		t.Logf("one's log:\n%s", harness.Tail(one.Log(), 30))
	}
}

// forgeryInstances are one.example (alice; an Ed25519 key published;
// DMARC p=none, so a forgery from outside is accepted there) and
// two.example (bob), each relaying to the other.
func forgeryInstances(t *testing.T) (one, two *harness.OutInstance) {
	t.Helper()
	p := harness.NewPair(t, harness.PairOpts{Records: []string{
		`one.example. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
		`_dmarc.one.example. 300 IN TXT "v=DMARC1; p=none"`}})
	one, two = p.One, p.Two
	dkimKeygen(t, p.DNS, one.Conf, "one.example", "ed1", "ed25519")
	return one, two
}

// sendForgery sends, from a stranger on port 25 of one, a message written
// as ceo@one.example with the subject "forged".
func sendForgery(t *testing.T, one *harness.OutInstance, from, to string) {
	t.Helper()
	c := harness.DialFrom(t, one.SMTP, "127.0.0.9")
	c.C.SetDeadline(time.Now().Add(time.Minute))
	for _, step := range []struct{ cmd, want string }{
		{"EHLO stranger.example", "250"}, {"MAIL FROM:<" + from + ">", "250"},
		{"RCPT TO:<" + to + ">", "250"}, {"DATA", "354"},
		{"From: The CEO <ceo@one.example>\r\nTo: " + to + "\r\nSubject: forged\r\n\r\nPay the invoice.\r\n.", "250"},
	} {
		if r := c.Cmd(step.cmd); !strings.HasPrefix(r, step.want) {
			t.Fatalf("%.40q: %q, want %s", step.cmd, r, step.want)
		}
	}
	c.Cmd("QUIT")
}

// atTwo is two.example's own Authentication-Results field of m (the
// topmost) and its DKIM-Signature fields.
func atTwo(m string) (ar, sig string) {
	ar, _, _ = strings.Cut(headerField(m, "Authentication-Results"), "\n")
	return ar, headerField(m, "DKIM-Signature")
}

// unsignedForgery checks that the forgery m reached two.example without
// one.example's signature, and failed DMARC there.
func unsignedForgery(t *testing.T, m, what string) {
	t.Helper()
	if ar, sig := atTwo(m); strings.Contains(sig, "d=one.example") || !dmarcFail.MatchString(ar) {
		t.Errorf("%s left signed by one.example, or passed DMARC at the next hop (%s):\n%.1500s", what, ar, m)
	}
}

// forgeryAndOther waits for bob at two.example to hold two messages: the
// forgery (checked to have left unsigned, named what) and one whose
// Subject is subject, returned with its Authentication-Results and
// DKIM-Signature as two saw them ("" when it did not arrive: the test has
// failed then).
func forgeryAndOther(t *testing.T, two *harness.OutInstance, what, subject string) (m, ar, sig string) {
	t.Helper()
	seen := 0
	for _, got := range two.WaitMail("bob", 2, 60*time.Second) {
		switch {
		case strings.Contains(got, "Subject: forged"):
			seen++
			unsignedForgery(t, got, what)
		case strings.Contains(got, "Subject: "+subject):
			seen++
			m = got
			ar, sig = atTwo(got)
		}
	}
	if seen != 2 {
		t.Errorf("%d of the 2 messages (%s, %q) reached bob at two.example", seen, what, subject)
	}
	return m, ar, sig
}
