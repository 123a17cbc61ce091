package harness

import (
	"os/exec"
	"strings"
	"testing"
)

// DoctorLines is ebb doctor -c conf as root, the lines that contain what;
// "works" when there is none.
func DoctorLines(t *testing.T, conf, what string) (string, bool) {
	t.Helper()
	r := Run(t, exec.Command(Ebb(t), "doctor", "-c", conf), nil)
	var lines []string
	for _, l := range strings.Split(r.Stdout, "\n") {
		if strings.Contains(l, what) && (strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "WARN")) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n"), len(lines) == 0
}
