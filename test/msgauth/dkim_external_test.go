package msgauth

import (
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
	dns := harness.StartDNS(t)
	port := harness.CommonPort(t, "127.0.0.2", "127.0.0.3")
	dns.MustAdd("one.example. 300 IN MX 10 mx.one.example.", "mx.one.example. 300 IN A 127.0.0.2",
		"two.example. 300 IN MX 10 mx.two.example.", "mx.two.example. 300 IN A 127.0.0.3",
		`one.example. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
		`_dmarc.one.example. 300 IN TXT "v=DMARC1; p=none"`)
	one := harness.NewOutInstance(t, harness.OutOpts{Domain: "one.example", IP: "127.0.0.2", Port: port, DNS: dns.Addr(), RelayPort: port, Users: []string{"alice"}})
	two := harness.NewOutInstance(t, harness.OutOpts{Domain: "two.example", IP: "127.0.0.3", Port: port, DNS: dns.Addr(), RelayPort: port, Users: []string{"bob"}})
	dkimKeygen(t, dns, one.Conf, "one.example", "ed1", "ed25519")
	harness.EbbAs(t, one.Daemon, nil, "alias", "add", "-c", one.Conf, "fwd@one.example", "bob@two.example")

	// The forgery, from a stranger on port 25.
	c := harness.DialFrom(t, one.SMTP, "127.0.0.9")
	c.C.SetDeadline(time.Now().Add(time.Minute))
	for _, step := range []struct{ cmd, want string }{
		{"EHLO stranger.example", "250"}, {"MAIL FROM:<x@elsewhere.example>", "250"},
		{"RCPT TO:<fwd@one.example>", "250"}, {"DATA", "354"},
		{"From: The CEO <ceo@one.example>\r\nTo: fwd@one.example\r\nSubject: forged\r\n\r\nPay the invoice.\r\n.", "250"},
	} {
		if r := c.Cmd(step.cmd); !strings.HasPrefix(r, step.want) {
			t.Fatalf("%.40q: %q, want %s", step.cmd, r, step.want)
		}
	}
	c.Cmd("QUIT")
	// Then alice's own, through the same alias.
	one.Submit("alice@one.example", "fwd@one.example", "genuine")

	got := two.WaitMail("bob", 2, 60*time.Second)
	seen := 0
	for _, m := range got {
		// two.example's own verdict is the topmost field.
		ar, _, _ := strings.Cut(headerField(m, "Authentication-Results"), "\n")
		sig := headerField(m, "DKIM-Signature")
		switch {
		case strings.Contains(m, "Subject: forged"):
			seen++
			if strings.Contains(sig, "d=one.example") || !dmarcFail.MatchString(ar) {
				t.Errorf("the forgery left signed by one.example, or passed DMARC at the next hop (%s):\n%.1500s", ar, m)
			}
		case strings.Contains(m, "Subject: genuine"):
			seen++
			if !strings.Contains(sig, "d=one.example") || !strings.Contains(ar, "dmarc=pass header.from=one.example") {
				t.Errorf("alice's message through the alias left unsigned, or failed DMARC (%s):\n%.1500s", ar, m)
			}
		}
	}
	if seen != 2 {
		t.Errorf("%d of the 2 messages reached bob at two.example", seen)
	}
	if t.Failed() {
		t.Logf("one's log:\n%s", harness.Tail(one.Log(), 30))
	}
}
