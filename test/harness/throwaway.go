package harness

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// throwawayEnv names the test a run of the test binary inside
// test/throwaway-root.sh is for.
const throwawayEnv = "EBB_THROWAWAY_ROOT_TEST"

// ThrowawayRoot runs the calling test in a throwaway copy of this machine
// and reports whether the caller is that copy. A test that installs a
// package, adds system users or writes below /etc or /var begins with
//
//	if !harness.ThrowawayRoot(t) {
//		return // it ran in its throwaway root; its result is this test's
//	}
//
// The first call runs the test binary again, for this test alone, under
// test/throwaway-root.sh --net loopback: a mount namespace of its own,
// chrooted into an overlay of the system's filesystems whose changes vanish
// when it ends, and a network namespace with only loopback up (no host
// resolver; no host daemon holds a port the test wants). It relays that
// run's output and fails when it failed. Inside, ThrowawayRoot returns true
// and the test goes on: dpkg, apt and adduser act on the copy, and the
// host's packages and /var/lib stay as they were.
func ThrowawayRoot(t *testing.T) bool {
	t.Helper()
	RequireRoot(t)
	if name := os.Getenv(throwawayEnv); name != "" {
		if name != t.Name() {
			t.Fatalf("%s=%s, but this is %s", throwawayEnv, name, t.Name())
		}
		if !InThrowawayRoot() {
			t.Fatalf("%s is set but / is not a throwaway root (test/throwaway-root.sh): refusing to change this machine", throwawayEnv)
		}
		return true
	}
	args := []string{"--net", "loopback", "--", os.Args[0],
		"-test.run=^" + regexp.QuoteMeta(t.Name()) + "$", "-test.v", "-test.count=1"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout="+time.Until(d).Round(time.Second).String())
	}
	cmd := exec.Command(filepath.Join(RepoRoot(), "test", "throwaway-root.sh"), args...)
	cmd.Env = append(os.Environ(), throwawayEnv+"="+t.Name())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		t.Log(sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("%s in its throwaway root (test/throwaway-root.sh): %v; its output is above", t.Name(), err)
	}
	return false
}

// InThrowawayRoot reports whether / is the overlay test/throwaway-root.sh
// made (its source is named ebb-throwaway-1).
func InThrowawayRoot() bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		// "36 35 0:41 / / rw,relatime - overlay ebb-throwaway-1 rw,..."
		f := bytes.Fields(line)
		if len(f) < 5 || string(f[4]) != "/" {
			continue
		}
		for i, x := range f {
			if string(x) == "-" && i+2 < len(f) && string(f[i+1]) == "overlay" && string(f[i+2]) == "ebb-throwaway-1" {
				return true
			}
		}
	}
	return false
}
