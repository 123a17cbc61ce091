package smtp

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// A password-guessing run that goes on past the lockout does not grow the
// journal with each try (internal/smtpd/flood.go; final-fr-recv finding
// 2): the locked-out tries of one source within a minute share one ref
// and one record, a follow-up counts them, and ebb explain says how many;
// another source has its own ref.
func TestAuthLockoutRunSharesOneRef(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnv(t, "auth_failures_before_delay = 1000\nauth_max_failures_per_ip = 2\n")
	refOf := regexp.MustCompile(`^4\.7\.0 Too many failed logins from your address; .*\(ref ([A-Z2-7]{8})\)$`)
	const tries = 100
	run := func(ip string) (string, int) {
		c := harness.DialSMTP(t, ip, e.Sub, false)
		c.StartTLS()
		defer c.Conn.Close()
		for i := 0; i < 2; i++ {
			if code, msg := c.AuthPlain("demo@example.test", fmt.Sprintf("guess %d", i)); code != 535 {
				t.Fatalf("guess %d from %s: %d %s, want 535", i, ip, code, msg)
			}
		}
		refs := map[string]int{}
		for i := 0; i < tries; i++ {
			code, msg := c.AuthPlain("demo@example.test", fmt.Sprintf("locked %d", i))
			m := refOf.FindStringSubmatch(msg)
			if code != 454 || m == nil {
				t.Fatalf("try %d from %s past the lockout: %d %s, want 454 4.7.0 … (ref X)", i, ip, code, msg)
			}
			refs[m[1]]++
		}
		if len(refs) > 2 { // one a minute: a loaded machine may span two
			t.Fatalf("%d locked-out tries from %s got %d refs: %v", tries, ip, len(refs), refs)
		}
		var ref string
		for r, n := range refs {
			if n > refs[ref] {
				ref = r
			}
		}
		return ref, refs[ref]
	}
	a, na := run("127.0.6.1")
	b, nb := run("127.0.6.2")
	if a == b {
		t.Fatalf("two sources share the ref %s", a)
	}
	e.Stop() // writes the follow-ups

	b0, err := os.ReadFile(filepath.Join(e.Dir, "data", "journal", time.Now().UTC().Format("2006-01-02")+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b0, []byte(`"stage":"auth"`)); n > 8 {
		t.Errorf("%d journal records of AUTH refusals for %d locked-out tries from two sources, want at most 8 (a record and a follow-up per ref):\n%s", n, 2*tries, b0)
	}
	for _, c := range []struct {
		ref, ip string
		n       int
	}{{a, "127.0.6.1", na}, {b, "127.0.6.2", nb}} {
		out := e.EbbAsDaemon(nil, "explain", "-c", e.Conf, c.ref)
		for _, w := range []string{"login refused at AUTH; from " + c.ip, "replied 454 4.7.0 Too many failed logins",
			"submission.auth_max_failures_per_ip", fmt.Sprintf("refused %d times in all under this ref between ", c.n)} {
			if !strings.Contains(out.Stdout, w) {
				t.Errorf("explain %s lacks %q:\n%s%s", c.ref, w, out.Stdout, out.Stderr)
			}
		}
	}
}
