package smtp

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// Issue 24: a guesser that takes a fresh source address for every guess
// got one password checked per address, indefinitely (54 checked in 44 s
// from 60 addresses), since the account's limit refused only sources that
// had failed for it. Now the account has a budget across sources: after
// submission.auth_max_failures_per_account failures, every source the
// account never logged in from is refused for it without a password check,
// a real account and an unknown one alike, while the owner still gets in
// from where they logged in before.
func TestAuthBudgetHoldsAcrossRotatingSources(t *testing.T) {
	t.Parallel()
	const budget = 8
	e := harness.NewSubEnv(t, fmt.Sprintf("auth_failures_before_delay = 1000\nauth_max_failures_per_ip = 1000\nauth_max_failures_per_account = %d\n", budget))
	login := func(ip, user, pass string) (int, string) {
		c := harness.DialSMTP(t, ip, e.Sub, false)
		c.StartTLS()
		defer c.Conn.Close()
		return c.AuthPlain(user, pass)
	}
	// The owner logged in from 127.0.0.200 once, before the attack.
	if code, msg := login("127.0.0.200", "demo@example.test", harness.DemoPass); code != 235 {
		t.Fatalf("the owner's first login: %d %s", code, msg)
	}
	guess := func(user string, net int) []int {
		var codes []int
		for i := 0; i < 30; i++ {
			code, msg := login(fmt.Sprintf("127.0.%d.%d", net, 10+i), user, fmt.Sprintf("guess %d", i))
			if code != 535 && code != 454 {
				t.Fatalf("guess %d for %s: %d %s", i, user, code, msg)
			}
			codes = append(codes, code)
		}
		return codes
	}
	known, unknown := guess("demo@example.test", 1), guess("nobody@example.test", 2)
	t.Logf("30 guesses from 30 fresh addresses: a real account %v, an unknown one %v", known, unknown)
	checked := 0
	for i, code := range known {
		if code == 535 {
			checked++
		}
		if want := map[bool]int{true: 535, false: 454}[i < budget]; code != want {
			t.Errorf("guess %d for the real account: %d, want %d", i+1, code, want)
		}
		if unknown[i] != code {
			t.Errorf("guess %d: the real account got %d, the unknown one %d: the answers tell them apart", i+1, code, unknown[i])
		}
	}
	if checked != budget {
		t.Errorf("%d of 30 guesses from fresh addresses were checked, want the budget of %d", checked, budget)
	}
	// The owner, from the address they logged in from before.
	if code, msg := login("127.0.0.200", "demo@example.test", harness.DemoPass); code != 235 {
		t.Errorf("the owner from a familiar address during the attack: %d %s, want 235", code, msg)
	}
	// From an address the account never logged in from: refused like the
	// guesser (the price, written in docs/submission.md), with the words
	// of the refusal.
	code, msg := login("127.0.3.1", "demo@example.test", harness.DemoPass)
	if code != 454 || !strings.Contains(msg, "4.7.0 Too many failed logins for this account") {
		t.Errorf("the right password from a fresh address while the budget is spent: %d %s, want 454 4.7.0", code, msg)
	}
	// The refusal carries a ref that ebb explain opens (principle 1).
	if m := regexp.MustCompile(`\(ref ([A-Z2-7]{8})\)`).FindStringSubmatch(msg); m == nil {
		t.Errorf("the refused login's reply has no ref: %s", msg)
	} else {
		out := harness.Run(t, exec.Command(harness.Ebb(t), "explain", "-c", e.Conf, m[1]), nil)
		for _, w := range []string{"login refused at AUTH for <demo@example.test>; from 127.0.3.1", "replied 454 4.7.0 Too many failed logins",
			"failed logins for the account from sources like this one recently, the most taken (submission.auth_max_failures_per_account)"} {
			if !strings.Contains(out.Stdout, w) {
				t.Errorf("ebb explain %s lacks %q:\n%s%s", m[1], w, out.Stdout, out.Stderr)
			}
		}
	}
	// Another account is not touched.
	if code, msg := login("127.0.1.10", "boss@example.test", harness.BossPass); code != 235 {
		t.Errorf("another account from a guessing address: %d %s, want 235", code, msg)
	}
	log := e.Log()
	for _, w := range []string{`msg="smtp auth refused"`, "why=account", "account=demo@example.test", "account=nobody@example.test"} {
		if !strings.Contains(log, w) {
			t.Errorf("the log lacks %q", w)
		}
	}
}
