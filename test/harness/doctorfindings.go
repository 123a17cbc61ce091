package harness

import (
	"encoding/json"
	"os/exec"
	"testing"
)

// DoctorFinding is one finding of ebb doctor --json.
type DoctorFinding struct {
	Check   string `json:"check"`
	Status  string `json:"status"`
	Subject string `json:"subject"`
	Message string `json:"message"`
}

// DoctorFindings runs `ebb doctor --json` through sh -c script (so that a
// test can run it inside a mount namespace) and returns the findings of
// the named checks.
func DoctorFindings(t *testing.T, cmd *exec.Cmd, checks ...string) []DoctorFinding {
	t.Helper()
	r := Run(t, cmd, nil)
	var out struct {
		Findings []DoctorFinding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("doctor --json: %v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	var fs []DoctorFinding
	for _, f := range out.Findings {
		for _, c := range checks {
			if f.Check == c {
				fs = append(fs, f)
			}
		}
	}
	return fs
}
