package smtp

import (
	"regexp"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// swaksRef is the last refusal with a ref in swaks' transcript: the reply
// and the ref.
var swaksRef = regexp.MustCompile(`<[~*]\* +([45][0-9][0-9] [^\n]*\(ref ([A-Z2-7]{8})\))`)

// A logged-in user sends only as an address of their own, in the
// envelope (MAIL FROM) and in the message (From:, Sender:): a password
// (stolen, or shared by a whole office) must not let alice write as
// bob, nor get mail signed for bob's domain. The refusal names the
// address, the rule and the setting, and its ref opens the story in ebb
// explain. submission.sender_policy = "domain" allows more.
func TestSubmissionSenderIsTheLogin(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnv(t, "")
	login := []string{"--tls", "--auth", "PLAIN", "--auth-user", "demo@example.test", "--auth-password", harness.DemoPass}
	type send struct {
		name    string
		tls465  bool
		from    string // MAIL FROM
		headers []string
		ok      bool
		want    string // in the refusal
	}
	cases := []send{
		{name: "own address", from: "demo@example.test", headers: []string{"--h-From", `"Demo" <demo@example.test>`}, ok: true},
		{name: "an alias that leads to the login", from: "demo@example.test", headers: []string{"--h-From", "Info <info@example.test>"}, ok: true},
		{name: "null sender, own From:", from: "<>", headers: []string{"--h-From", "demo@example.test"}, ok: true},
		{name: "MAIL FROM someone else", from: "boss@example.test",
			want: "553 5.7.1 <boss@example.test> is not an address of demo@example.test: send as your own address (submission.sender_policy = \"own\")"},
		{name: "From: someone else", from: "demo@example.test", headers: []string{"--h-From", `"The Boss" <boss@example.test>`},
			want: "550 5.7.1 From: <boss@example.test> is not an address of demo@example.test: write your own address in From: (submission.sender_policy = \"own\")"},
		{name: "From: someone else, over implicit TLS", tls465: true, from: "demo@example.test", headers: []string{"--h-From", "boss@example.test"},
			want: "550 5.7.1 From: <boss@example.test> is not an address of demo@example.test"},
		{name: "null sender, From: someone else", from: "<>", headers: []string{"--h-From", "boss@example.test"},
			want: "550 5.7.1 From: <boss@example.test>"},
		{name: "From: someone in another domain", from: "demo@example.test", headers: []string{"--h-From", "ceo@bank.example"},
			want: "550 5.7.1 From: <ceo@bank.example> is not an address of demo@example.test"},
		{name: "two authors, one not the login", from: "demo@example.test", headers: []string{"--h-From", "demo@example.test, boss@example.test"},
			want: "550 5.7.1 From: <boss@example.test>"},
		{name: "Sender: someone else", from: "demo@example.test", headers: []string{"--h-From", "demo@example.test", "--h-Sender", "boss@example.test"},
			want: "550 5.7.1 Sender: <boss@example.test> is not an address of demo@example.test"},
		{name: "a From: no reader agrees on", from: "demo@example.test", headers: []string{"--h-From", "boss@example.test <demo@example.test>"},
			want: "550 5.7.1 The From: field cannot be read"},
		{name: "two From: fields", from: "demo@example.test", headers: []string{"--add-header", "From: boss@example.test"},
			want: "550 5.7.1 From: <boss@example.test>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--server", e.Sub}
			args = append(args, login...)
			if tc.tls465 {
				args = []string{"--server", e.SubTLS, "--tlsc"}
				args = append(args, login[1:]...)
			}
			args = append(args, "--from", tc.from, "--to", "boss@example.test", "--h-Subject", "as "+tc.name)
			args = append(args, tc.headers...)
			r := harness.RunSwaks(t, args...)
			out := r.Stdout + r.Stderr
			if tc.ok {
				if r.Code != 0 || !strings.Contains(out, "Ok: queued as") {
					t.Fatalf("swaks exit %d, want the message accepted:\n%s", r.Code, out)
				}
				return
			}
			if r.Code == 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("swaks exit %d, want a refusal with %q:\n%s", r.Code, tc.want, out)
			}
			m := swaksRef.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("the refusal carries no ref:\n%s", out)
			}
			x := e.EbbAsDaemon(nil, "explain", "-c", e.Conf, m[2])
			if x.Code != 0 || !strings.Contains(x.Stdout, "replied "+m[1]) || !strings.Contains(x.Stdout, "as demo@example.test") {
				t.Errorf("ebb explain %s: exit %d\n%s%s", m[2], x.Code, x.Stdout, x.Stderr)
			}
			if strings.HasPrefix(tc.want, "550") && !strings.Contains(x.Stdout, "submission.sender_policy") {
				t.Errorf("ebb explain %s does not name the setting:\n%s", m[2], x.Stdout)
			}
		})
	}
	// Only the accepted ones reached boss; none claiming to be boss.
	msgs := e.WaitMail("boss", 3)
	for _, m := range msgs {
		if strings.Contains(m, "boss@example.test>") && strings.Contains(m, "From: \"The Boss\"") {
			t.Errorf("a message written as boss was delivered:\n%s", m)
		}
	}
	if n := e.MailCount("boss"); n != 3 {
		t.Errorf("boss has %d messages, want the 3 accepted", n)
	}
}

// submission.sender_policy = "domain": any address of the login's domain,
// in MAIL FROM and From:, but still none of another domain.
func TestSubmissionSenderPolicyDomain(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnv(t, "sender_policy = \"domain\"\n")
	send := func(from, header string) harness.Result {
		return harness.RunSwaks(t, "--server", e.Sub, "--tls", "--auth", "PLAIN", "--auth-user", "demo@example.test", "--auth-password", harness.DemoPass,
			"--from", from, "--to", "boss@example.test", "--h-From", header)
	}
	if r := send("boss@example.test", "boss@example.test"); r.Code != 0 {
		t.Errorf("as boss@example.test under \"domain\": exit %d\n%s", r.Code, r.Stdout)
	}
	if r := send("demo@example.test", "ceo@bank.example"); r.Code == 0 ||
		!strings.Contains(r.Stdout, `550 5.7.1 From: <ceo@bank.example> is not an address of demo@example.test: write your own address in From: (submission.sender_policy = "domain")`) {
		t.Errorf("From: another domain under \"domain\": exit %d\n%s", r.Code, r.Stdout)
	}
}
