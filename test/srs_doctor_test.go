package test

import (
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
	e := newSubEnv(t, "\n[srs]\nenable = true\ndomain = \"example.test\"\n")
	secret := filepath.Join(e.Dir, "data", "srs.secret")
	st, err := os.Stat(secret)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("ebb serve did not make the secret 0600: %v %v", st, err)
	}
	doctor := func() []doctorFinding {
		return doctorFindings(t, exec.Command(harness.Ebb(t), "doctor", "-c", e.Conf, "--json"), "srs.secret")
	}
	if fs := doctor(); len(fs) != 1 || fs[0].Status != "ok" {
		t.Fatalf("doctor on the secret ebb made: %+v", fs)
	}
	e.Stop()

	os.Chmod(secret, 0o644)
	fs := doctor()
	if len(fs) != 1 || fs[0].Status != "fail" || !strings.Contains(fs[0].Message, "others can read the secret") ||
		!strings.Contains(fs[0].Message, "chmod 600 "+secret) {
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
	if fs := doctor(); len(fs) != 1 || fs[0].Status != "fail" || !strings.Contains(fs[0].Message, "must belong to "+e.Daemon.Name) {
		t.Errorf("doctor on root's secret: %+v", fs)
	}
}
