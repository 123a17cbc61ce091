package fetch

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// fetchEnv is an ebb (directory with example.test: alice, bob; spool;
// Maildirs) and a remote Dovecot with users to fetch from.
type fetchEnv struct {
	*harness.ServeEnv
	Remote *harness.RemoteDovecot
}

// fetchConf is the [fetch] section: short intervals for tests, with
// extra's keys (TOML lines) replacing the defaults here.
func fetchConf(extra string) string {
	keys := map[string]bool{}
	for _, l := range strings.Split(extra, "\n") {
		if k, _, ok := strings.Cut(l, "="); ok {
			keys[strings.TrimSpace(k)] = true
		}
	}
	out := "\n[fetch]\n"
	for _, kv := range []string{`interval = "1s"`, `backoff_min = "1s"`, `backoff_max = "2s"`, `timeout = "5s"`} {
		if k, _, _ := strings.Cut(kv, " ="); !keys[k] {
			out += kv + "\n"
		}
	}
	return out + extra + "\n"
}

// newFetchEnv starts both; ebb serve is stopped again unless serve is
// true (ebb fetch run needs the spool to itself).
func newFetchEnv(t *testing.T, users map[string]string, extra string, serve bool, introspect string) *fetchEnv {
	t.Helper()
	e := &fetchEnv{ServeEnv: harness.NewServeEnv(t, harness.ServeOpts{Extra: fetchConf(extra)})}
	if !serve {
		e.Stop()
	}
	e.Remote = harness.StartRemoteDovecot(t, users, introspect)
	return e
}

// add runs ebb fetch add as the mail user, the password on stdin.
func (e *fetchEnv) add(password string, args ...string) harness.Result {
	e.T.Helper()
	r := harness.Run(e.T, harness.AsUser(exec.Command(harness.Ebb(e.T), append([]string{"fetch", "add", "-c", e.Conf}, args...)...), e.User), []byte(password+"\n"))
	if r.Code != 0 {
		e.T.Fatalf("ebb fetch add %v: exit %d\n%s%s", args, r.Code, r.Stdout, r.Stderr)
	}
	return r
}

func (e *fetchEnv) fetch(args ...string) harness.Result {
	e.T.Helper()
	return harness.Run(e.T, harness.AsUser(exec.Command(harness.Ebb(e.T), append([]string{"fetch", args[0], "-c", e.Conf}, args[1:]...)...), e.User), nil)
}

// run is ebb fetch run that must succeed.
func (e *fetchEnv) run(names ...string) harness.Result {
	e.T.Helper()
	r := e.fetch(append([]string{"run"}, names...)...)
	if r.Code != 0 {
		e.T.Fatalf("ebb fetch run %v: exit %d\n%s%s", names, r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// listLine is the account's line in ebb fetch list.
func (e *fetchEnv) listLine(name string) string {
	e.T.Helper()
	r := e.fetch("list")
	for _, l := range strings.Split(r.Stdout, "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	e.T.Fatalf("no %s in ebb fetch list:\n%s%s", name, r.Stdout, r.Stderr)
	return ""
}

// localIDs counts the Message-IDs in a local mailbox's new/.
func (e *fetchEnv) localIDs(local string) map[string]int {
	e.T.Helper()
	out := map[string]int{}
	for _, m := range e.Messages(local) {
		if mm := harness.MessageIDRE.FindStringSubmatch(m); mm != nil {
			out[mm[1]]++
		}
	}
	return out
}

func (e *fetchEnv) imapsArgs(name, user, to string, more ...string) []string {
	return append([]string{name, "--server", e.Remote.IMAPS, "--user", user, "--to", to, "--ca-file", e.Remote.CACert}, more...)
}

// waitFor polls cond for up to d.
func fetchWait(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	harness.WaitFor(t, what, d, cond)
}
