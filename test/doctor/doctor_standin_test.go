package doctor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// When server.user does not exist, doctor says so and still runs every
// probe, as nobody, marking each result: the directories that root made
// and the mail user could not write show at once (on the old code the
// probes ran as root, which ignores file modes, and passed).
func TestDoctorWithoutTheMailUserProbesAsNobody(t *testing.T) {
	t.Parallel()
	harness.RequireRoot(t)
	const missing = "ebb-no-such-vmail"
	dir := harness.Dir(t)
	os.Chmod(dir, 0o755)
	for _, d := range []string{"data", "mail", "spool"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755) // root's, as an install before useradd leaves them
	}
	conf := filepath.Join(dir, "ebb.toml")
	os.WriteFile(conf, []byte(harness.ConfHead("mx.example.test", missing, dir)+fmt.Sprintf(`[smtp]
listen = ["127.0.0.1:%d"]
[metrics]
listen = ""
`, harness.FreePort(t))), 0o644)
	harness.EmptyDNS(t, conf)
	r := harness.Run(t, exec.Command(harness.Ebb(t), "doctor", "-c", conf), nil)
	if r.Code != 1 {
		t.Fatalf("exit %d, want 1:\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	mark := "[as nobody, since " + missing + " is missing]"
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	var sawUser bool
	for _, l := range lines[:len(lines)-1] {
		switch {
		case strings.Contains(l, "  server.user "):
			sawUser = strings.HasPrefix(l, "FAIL") && strings.Contains(l, "no such user") && strings.Contains(l, "ran as nobody")
		case !strings.HasSuffix(l, mark):
			t.Errorf("result not marked as the stand-in's: %s", l)
		}
		if strings.Contains(l, "chown nobody") {
			t.Errorf("a hint gives a directory to the stand-in: %s", l)
		}
		if strings.Contains(l, "run: ebb doctor") {
			t.Errorf("doctor sends its reader to doctor: %s", l)
		}
	}
	if !sawUser {
		t.Errorf("no FAIL for the missing server.user:\n%s", r.Stdout)
	}
	for _, check := range []string{"mail.root", "directory", "queue.spool"} {
		l := findLines(r.Stdout, "FAIL  "+check)
		if len(l) == 0 || !strings.Contains(l[0], "running as uid 65534 nobody") || !strings.Contains(l[0], "Fix: once "+missing+" exists (see server.user): run: chown "+missing+":"+missing+" ") {
			t.Errorf("%s: no failure as nobody with the mail user's fix:\n%s", check, r.Stdout)
		}
	}
}
