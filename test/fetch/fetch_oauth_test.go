package fetch

import (
	"bufio"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

var userCodeRE = regexp.MustCompile(`enter the code (\S+)`)

// auth runs ebb fetch auth NAME (the device code flow) and plays the
// user who enters the code at the provider.
func (e *fetchEnv) auth(ts *harness.TokenServer, name, user string) {
	e.T.Helper()
	cmd := harness.AsUser(exec.Command(harness.Ebb(e.T), "fetch", "auth", "-c", e.Conf, name), e.User)
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		e.T.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	approved := false
	var out strings.Builder
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if m := userCodeRE.FindStringSubmatch(sc.Text()); m != nil && !approved {
			approved = ts.Approve(strings.TrimSuffix(m[1], ","), user)
		}
	}
	if err := cmd.Wait(); err != nil || !approved || !strings.Contains(out.String(), "access granted") {
		e.T.Fatalf("ebb fetch auth %s: %v (approved %v)\n%s%s", name, err, approved, out.String(), stderr.String())
	}
}

// OAuth2 against Dovecot's oauth2 passdb, which validates each token by
// introspection at a token server on loopback: the device code flow;
// XOAUTH2 over IMAP and OAUTHBEARER over POP3; access tokens that expire
// after 3 s while ebb serve keeps an IDLE session (it refreshes before
// expiry and logs in again, and a pushed message still arrives); a
// revoked refresh token is said in those words.
func TestFetchOAuth2KeepsWorkingPastExpiry(t *testing.T) {
	t.Parallel()
	ts := harness.StartTokenServer(t, time.Minute)
	e := newFetchEnv(t, map[string]string{"frank": "unused-password"}, "token_refresh_before = \"1s\"\ninterval = \"1h\"\n", false, ts.URL+"/introspect")
	oauthArgs := []string{"--oauth2", "custom", "--client-id", "ebb-test", "--token-url", ts.URL + "/token", "--device-url", ts.URL + "/device"}
	e.add("", append(e.imapsArgs("oa", "frank", "alice@example.test"), oauthArgs...)...)
	e.add("", append([]string{"oapop", "--protocol", "pop3", "--server", e.Remote.POP3S, "--user", "frank", "--to", "bob@example.test",
		"--ca-file", e.Remote.CACert, "--mechanism", "OAUTHBEARER"}, oauthArgs...)...)
	if l := e.listLine("oa"); !strings.Contains(l, "no consent yet") {
		t.Fatalf("fetch list before consent: %s", l)
	}
	if r := e.fetch("run", "oa"); r.Code != 75 || !strings.Contains(r.Stderr, "no OAuth2 token yet") || !strings.Contains(r.Stderr, "ebb fetch auth oa") {
		t.Fatalf("run before consent: exit %d\n%s", r.Code, r.Stderr)
	}
	e.auth(ts, "oa", "frank")
	e.auth(ts, "oapop", "frank")
	e.Remote.Put(t, "frank", "INBOX", harness.RemoteMsgs(3, 1, "oauth", 800)...)
	if out := e.run("oa", "oapop"); !strings.Contains(out.Stdout, "oa: 3 fetched") || !strings.Contains(out.Stdout, "oapop: 3 fetched") {
		t.Fatalf("first run: %s%s", out.Stdout, out.Stderr)
	}
	log := e.Remote.Log()
	if !strings.Contains(log, "user=<frank>, method=XOAUTH2") || !strings.Contains(log, "user=<frank>, method=OAUTHBEARER") {
		t.Fatalf("no XOAUTH2 and OAUTHBEARER logins in the server's log:\n%s", log)
	}

	// The daemon: IDLE across three token lifetimes of 3 s.
	ts.SetLifetime(3 * time.Second)
	e.auth(ts, "oa", "frank")
	e.fetch("disable", "oapop")
	e.Start()
	defer func() {
		if t.Failed() {
			t.Logf("serve log:\n%s", e.Log())
		}
	}()
	// Two refreshes and four XOAUTH2 logins in all happen only if the
	// daemon's session outlives its 3 s tokens (logging in again each time).
	logins := func() int { return strings.Count(e.Remote.Log(), "user=<frank>, method=XOAUTH2") }
	fetchWait(t, 60*time.Second, "two refreshes and four XOAUTH2 logins in all", func() bool { return ts.RefreshCount() >= 2 && logins() >= 4 })
	imapAppend(t, e.Remote.IMAP, "frank", "unused-password", harness.TestMessage(10, "after expiry", 500))
	e.WaitCount("alice", 4, 15*time.Second)
	if !strings.Contains(e.Log(), "access token expires during the session: logging in again") {
		t.Fatalf("no re-login in the log:\n%s", harness.Tail(e.Log(), 30))
	}
	e.Stop()

	// A token the provider cut before its stated expiry: the login is
	// refused with the server's words, ebb refreshes and logs in again.
	ts.SetLifetime(time.Minute)
	e.auth(ts, "oa", "frank")
	ts.ExpireAccess()
	e.Remote.Put(t, "frank", "INBOX", harness.RemoteMsgs(1, 20, "oauth", 800)...)
	if out := e.run("oa"); !strings.Contains(out.Stdout, "oa: 1 fetched") {
		t.Fatalf("run with a cut token: %s%s", out.Stdout, out.Stderr)
	}

	// Revoked: said in those words, with the fix.
	ts.RevokeAll("frank")
	ts.ExpireAccess()
	if r := e.fetch("run", "oa"); r.Code != 75 || !strings.Contains(r.Stderr, "refresh token revoked") {
		t.Fatalf("run after revocation: exit %d\n%s", r.Code, r.Stderr)
	}
	if l := e.listLine("oa"); !strings.Contains(l, "FAILING (token-revoked") || !strings.Contains(l, "refresh token revoked") || !strings.Contains(l, "ebb fetch auth oa") {
		t.Fatalf("fetch list after revocation: %s", l)
	}
}
