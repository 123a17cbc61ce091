package relay

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// With srs.enable, ebb serve makes the secret (0600, the mail user's) and
// doctor, probing as that user, passes it; a secret others can read makes
// doctor fail and ebb serve refuse to start, naming the file and the fix;
// a secret the mail user cannot read fails doctor.
func TestSRSSecretDoctorAndStart(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnv(t, "\n[srs]\nenable = true\ndomain = \"example.test\"\n")
	secret := filepath.Join(e.Dir, "data", "srs.secret")
	st, err := os.Stat(secret)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("ebb serve did not make the secret 0600: %v %v", st, err)
	}
	doctor := func() []harness.DoctorFinding {
		return harness.DoctorFindings(t, exec.Command(harness.Ebb(t), "doctor", "-c", e.Conf, "--json"), "srs.secret")
	}
	if fs := doctor(); len(fs) != 1 || fs[0].Status != "ok" {
		t.Fatalf("doctor on the secret ebb made: %+v", fs)
	}
	e.Stop()

	os.Chmod(secret, 0o644)
	fs := doctor()
	if len(fs) != 1 || fs[0].Status != "fail" || !strings.Contains(fs[0].Message, "others can read the secret") ||
		!strings.Contains(fs[0].Message, "Fix: run: chmod 0600 "+secret) {
		t.Errorf("doctor on a 0644 secret: %+v", fs)
	}
	cmd := exec.Command(harness.Ebb(t), "serve", "-c", e.Conf)
	done := make(chan harness.Result, 1)
	go func() { done <- harness.Run(t, cmd, nil) }()
	select {
	case r := <-done:
		if r.Code != 78 || !strings.Contains(r.Stderr, secret) || !strings.Contains(r.Stderr, "others can read the secret") {
			t.Errorf("ebb serve with a 0644 secret: exit %d\n%s", r.Code, r.Stderr)
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatal("ebb serve started with a secret others can read")
	}

	// Root's, 0600: the mail user cannot read it; doctor, probing as that
	// user, says so.
	os.Chmod(secret, 0o600)
	os.Chown(secret, 0, 0)
	if fs := doctor(); len(fs) != 1 || fs[0].Status != "fail" || !strings.Contains(fs[0].Message, "Fix: run: chown "+e.Daemon.Name+":"+e.Daemon.Name+" "+secret+"; then run: chmod 0600 "+secret) {
		t.Errorf("doctor on root's secret: %+v", fs)
	}
}

// doctor's mta_sts check, as the mail user: the policy cache can be made
// in the data directory, a CA file that is missing fails with its path and
// setting, and a port other than 443 is a warning (it is for tests).
func TestMTASTSDoctor(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(harness.Dir(t), "no-such-ca.pem")
	e := harness.NewSubEnv(t, fmt.Sprintf("\n[mta_sts]\nca_file = %q\nport = 8443\n", missing))
	fs := harness.DoctorFindings(t, exec.Command(harness.Ebb(t), "doctor", "-c", e.Conf, "--json"), "mta_sts")
	var got []string
	for _, f := range fs {
		got = append(got, f.Status+" "+f.Message)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"ok policy cache writable by uid",
		"fail ebb doctor: cannot read the MTA-STS CA file " + missing,
		"mta_sts.ca_file",
		"warn ebb doctor: cannot fetch MTA-STS policies from port: mta_sts.port is not 443",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("doctor mta_sts lacks %q:\n%s", want, all)
		}
	}
}
