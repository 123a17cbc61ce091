package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

type doctorFinding struct {
	Check   string `json:"check"`
	Status  string `json:"status"`
	Subject string `json:"subject"`
	Message string `json:"message"`
}

// doctorFindings runs `ebb doctor --json` through sh -c script (so that a
// test can run it inside a mount namespace) and returns the findings of
// the named checks.
func doctorFindings(t *testing.T, cmd *exec.Cmd, checks ...string) []doctorFinding {
	t.Helper()
	r := harness.Run(t, cmd, nil)
	var out struct {
		Findings []doctorFinding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("doctor --json: %v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	var fs []doctorFinding
	for _, f := range out.Findings {
		for _, c := range checks {
			if f.Check == c {
				fs = append(fs, f)
			}
		}
	}
	return fs
}

func TestSubmissionDoctor(t *testing.T) {
	t.Parallel()
	e := newSubEnv(t, "")
	doctor := func() *exec.Cmd { return exec.Command(harness.Ebb(t), "doctor", "-c", e.Conf, "--json") }
	find := func(fs []doctorFinding, check, subject string) doctorFinding {
		for _, f := range fs {
			if f.Check == check && (subject == "" || strings.Contains(f.Subject+f.Message, subject)) {
				return f
			}
		}
		t.Fatalf("no %s finding for %q in %+v", check, subject, fs)
		return doctorFinding{}
	}
	fs := doctorFindings(t, doctor(), "submission.tls", "submission.trust", "sendmail.links", "sendmail.pickup")
	if f := find(fs, "submission.tls", ""); f.Status != "ok" || !strings.Contains(f.Message, "valid for mx.example.test") {
		t.Errorf("certificate: %+v", f)
	}
	if f := find(fs, "submission.trust", ""); f.Status != "ok" {
		t.Errorf("loopback only: %+v", f)
	}
	if f := find(fs, "sendmail.pickup", ""); f.Status != "ok" || !strings.Contains(f.Message, "mode 3733") || !strings.Contains(f.Message, "socket is there") {
		t.Errorf("pickup: %+v", f)
	}
	// This machine's /usr/sbin/sendmail is Postfix's: doctor says where it leads.
	if f := find(fs, "sendmail.links", "/usr/sbin/sendmail"); f.Status != "warn" || !strings.Contains(f.Message, "not ebb") {
		t.Errorf("sendmail link on this host: %+v", f)
	}
	// Where ebb is the sendmail (private mount namespace), it is ok.
	script := `mount --bind "$1" /usr/sbin/sendmail && mount --bind "$1" /usr/bin/mailq && exec "$1" doctor -c "$2" --json`
	ns := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", harness.Ebb(t), e.Conf)
	fs = doctorFindings(t, ns, "sendmail.links")
	for _, p := range []string{"/usr/sbin/sendmail", "/usr/bin/mailq"} {
		if f := find(fs, "sendmail.links", p); f.Status != "ok" {
			t.Errorf("%s bound to ebb: %+v", p, f)
		}
	}
	// A trusted network wider than loopback is a warning that says why.
	conf, _ := os.ReadFile(e.Conf)
	wide := strings.Replace(string(conf), `trusted_networks = ["127.0.0.1/32"]`, `trusted_networks = ["127.0.0.1/32", "192.168.0.0/16"]`, 1)
	os.WriteFile(e.Conf, []byte(wide), 0o644)
	fs = doctorFindings(t, doctor(), "submission.trust")
	if f := find(fs, "submission.trust", "192.168.0.0/16"); f.Status != "warn" || !strings.Contains(f.Message, "wider than loopback") {
		t.Errorf("wide trusted network: %+v", f)
	}
}
