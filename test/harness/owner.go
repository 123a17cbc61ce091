package harness

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// AptGet runs apt-get -y with args (in the throwaway root, without a
// network: what it installs is a local .deb whose dependencies are there)
// and returns its output.
func AptGet(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("apt-get", append([]string{"-y", "-q"}, args...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("apt-get %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// DescribeOwner is p's "uid:gid mode" (octal, with the file type bits).
func DescribeOwner(t *testing.T, p string) string {
	st := StatT(t, p)
	return fmt.Sprintf("%d:%d %o", st.Uid, st.Gid, st.Mode)
}

// StatT is p's stat(2), failing the test when there is none.
func StatT(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatalf("stat %s: %v", p, err)
	}
	return &st
}
