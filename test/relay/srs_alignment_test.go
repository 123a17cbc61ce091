package relay

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

// With srs.enable and srs.domain left to its default (server.hostname,
// mx.two.example), an SRS sender would pass SPF at the next hop and align
// (DMARC, relaxed) with a From: of two.example. So a forgery 'From:
// ceo@two.example' from outside (two.example has DMARC p=none, so it is
// accepted) that an alias sends on is not rewritten: it leaves with the
// stranger's own sender, which our address does not pass for, and the log
// says why. A message from outside with a From: of another domain is still
// rewritten. Doctor warns about the srs.domain and names the setting; once
// it is followed (a dedicated srs.domain, restart) the warning is gone and
// the forgery's copy gets an SRS sender that aligns with nothing hosted,
// even when the forger's envelope sender is a hosted address.
func TestSRSDoesNotLendAlignmentToForgedHostedFrom(t *testing.T) {
	t.Parallel()
	rig := newForwardRig(t, "[srs]\nenable = true\n")
	dns, two, dump := rig.dns, rig.two, rig.dump

	// bob's Sieve script sends a copy of what he gets on (the redirect path).
	home := filepath.Join(two.Dir, "mail", "two.example", "bob")
	os.MkdirAll(home, 0o755)
	os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte("require \"copy\";\nredirect :copy \"z@ok.example\";\n"), 0o644)
	harness.Chown(t, home, two.Daemon)

	send := func(mailFrom, from, subject string, to ...string) {
		t.Helper()
		rcpt := "fwd@two.example"
		if len(to) > 0 {
			rcpt = to[0]
		}
		c := harness.DialFrom(t, two.SMTP, "127.0.0.7")
		c.C.SetDeadline(time.Now().Add(time.Minute))
		for _, step := range []struct{ cmd, want string }{
			{"EHLO stranger.example", "250"}, {"MAIL FROM:<" + mailFrom + ">", "250"},
			{"RCPT TO:<" + rcpt + ">", "250"}, {"DATA", "354"},
			{"From: " + from + "\r\nTo: " + rcpt + "\r\nSubject: " + subject + "\r\n\r\nhello from outside\r\n.", "250"},
		} {
			if r := c.Cmd(step.cmd); !strings.HasPrefix(r, step.want) {
				t.Fatalf("%.40q: %q, want %s", step.cmd, r, step.want)
			}
		}
		c.Cmd("QUIT")
	}
	mailFrom := func(subject string) string {
		t.Helper()
		got := waitDump(t, dump, subject)
		m := regexp.MustCompile(`X-Mail-Args: <([^>]*)>`).FindStringSubmatch(got)
		if m == nil {
			t.Fatalf("no sender in the dump of %q:\n%s", subject, got)
		}
		return m[1]
	}
	doctor := func() harness.DoctorFinding {
		t.Helper()
		fs := harness.DoctorFindings(t, exec.Command(harness.Ebb(t), "doctor", "-c", two.Conf, "--json"), "srs.domain")
		if len(fs) != 1 {
			t.Fatalf("doctor srs.domain: %+v", fs)
		}
		return fs[0]
	}

	send("x@elsewhere.example", "The CEO <ceo@two.example>", "forged-alias")
	send("x@elsewhere.example", "The CEO <ceo@two.example>", "forged-sieve", "bob@two.example")
	send("alice@elsewhere.example", "Alice <alice@elsewhere.example>", "outside")
	for _, subject := range []string{"forged-alias", "forged-sieve"} {
		if got := mailFrom(subject); got != "x@elsewhere.example" {
			t.Errorf("%s: the copy left with sender %q, want the stranger's own x@elsewhere.example (not an SRS address of mx.two.example)", subject, got)
		}
	}
	if got := mailFrom("outside"); !regexp.MustCompile(`^SRS0=[^=]+=[A-Z2-7]{2}=elsewhere\.example=alice@mx\.two\.example$`).MatchString(got) {
		t.Errorf("a message from outside with its own From: left with sender %q, want an SRS address of mx.two.example", got)
	}
	if !strings.Contains(two.Log(), "srs: sender not rewritten: the message came from outside and its From: domain two.example is in the organizational domain of srs.domain (two.example)") {
		t.Errorf("the log does not say why the forgery was not rewritten:\n%s", harness.Tail(two.Log(), 20))
	}

	// The Sieve copy's journal says why its sender was kept (principle 7).
	if m := regexp.MustCompile(`sieve: redirected.* to=z@ok\.example queue_id=([A-Z0-9]+)`).FindStringSubmatch(two.Log()); m == nil {
		t.Errorf("no Sieve redirect in the log")
	} else {
		out := harness.Run(t, harness.AsUser(exec.Command(harness.Ebb(t), "explain", "-c", two.Conf, m[1]), two.Daemon), nil)
		if want := "checked by srs: sender not rewritten: sent on with its own sender <x@elsewhere.example>, not an SRS address: the message came from outside and its From: domain two.example"; !strings.Contains(out.Stdout, want) {
			t.Errorf("ebb explain %s (the redirected copy) lacks %q:\n%s%s", m[1], want, out.Stdout, out.Stderr)
		}
	}

	f := doctor()
	if f.Status != "warn" || f.Subject != "mx.two.example" ||
		!strings.Contains(f.Message, "organizational domain two.example of the hosted domain two.example") ||
		!strings.Contains(f.Message, "set srs.domain to a domain outside two.example") ||
		!strings.Contains(f.Message, "restart ebb serve") {
		t.Fatalf("doctor on srs.domain = server.hostname: %+v", f)
	}

	// The fix, followed: a dedicated srs.domain, then a restart.
	dns.MustAdd("srs.fwd.example. MX 10 mx.two.example.")
	harness.SetTOML(t, two.Conf, "srs.domain", `"srs.fwd.example"`)
	two.Restart()
	if f := doctor(); f.Status != "ok" || f.Subject != "srs.fwd.example" {
		t.Errorf("doctor after the fix: %+v", f)
	}
	send("x@elsewhere.example", "The CEO <ceo@two.example>", "after-fix-alias")
	send("bob@two.example", "The CEO <ceo@two.example>", "after-fix-hosted")
	for subject, orig := range map[string]string{"after-fix-alias": "elsewhere.example=x", "after-fix-hosted": "two.example=bob"} {
		if got := mailFrom(subject); !regexp.MustCompile(`^SRS0=[^=]+=[A-Z2-7]{2}=` + regexp.QuoteMeta(orig) + `@srs\.fwd\.example$`).MatchString(got) {
			t.Errorf("%s: the copy left with sender %q, want an SRS address of srs.fwd.example", subject, got)
		}
	}
	if t.Failed() {
		t.Logf("two's log:\n%s", harness.Tail(two.Log(), 30))
	}
}
