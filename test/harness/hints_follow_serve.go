package harness

import (
	"os/exec"
	"strings"
	"testing"
)

// DoctorLines is ebb doctor -c conf as root, the lines that fail or warn
// and contain what; "works" when there is none.
func DoctorLines(t *testing.T, conf, what string) (string, bool) {
	t.Helper()
	return DoctorCheckLines(t, conf, "", what)
}

// DoctorCheckLines is DoctorLines for one check: the lines of check (its
// name as doctor prints it, "fetch", "mail.delivery_host"; "" for every
// check) that fail or warn and contain what ("" for all of them).
func DoctorCheckLines(t *testing.T, conf, check, what string) (string, bool) {
	t.Helper()
	r := Run(t, exec.Command(Ebb(t), "doctor", "-c", conf), nil)
	var lines []string
	for _, l := range strings.Split(r.Stdout, "\n") {
		if !strings.HasPrefix(l, "FAIL") && !strings.HasPrefix(l, "WARN") || !strings.Contains(l, what) {
			continue
		}
		if check == "" || strings.HasPrefix(l[4:], "  "+check+" ") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n"), len(lines) == 0
}
