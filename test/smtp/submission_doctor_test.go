package smtp

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

func TestSubmissionDoctor(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnv(t, "")
	doctor := func() *exec.Cmd { return exec.Command(harness.Ebb(t), "doctor", "-c", e.Conf, "--json") }
	find := func(fs []harness.DoctorFinding, check, subject string) harness.DoctorFinding {
		for _, f := range fs {
			if f.Check == check && (subject == "" || strings.Contains(f.Subject+f.Message, subject)) {
				return f
			}
		}
		t.Fatalf("no %s finding for %q in %+v", check, subject, fs)
		return harness.DoctorFinding{}
	}
	fs := harness.DoctorFindings(t, doctor(), "submission.tls", "submission.trust", "sendmail.links", "sendmail.pickup")
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
	fs = harness.DoctorFindings(t, ns, "sendmail.links")
	for _, p := range []string{"/usr/sbin/sendmail", "/usr/bin/mailq"} {
		if f := find(fs, "sendmail.links", p); f.Status != "ok" {
			t.Errorf("%s bound to ebb: %+v", p, f)
		}
	}
	// A trusted network wider than loopback is a warning that says why.
	conf, _ := os.ReadFile(e.Conf)
	wide := strings.Replace(string(conf), `trusted_networks = ["127.0.0.1/32"]`, `trusted_networks = ["127.0.0.1/32", "192.168.0.0/16"]`, 1)
	os.WriteFile(e.Conf, []byte(wide), 0o644)
	fs = harness.DoctorFindings(t, doctor(), "submission.trust")
	if f := find(fs, "submission.trust", "192.168.0.0/16"); f.Status != "warn" || !strings.Contains(f.Message, "wider than loopback") {
		t.Errorf("wide trusted network: %+v", f)
	}
}
