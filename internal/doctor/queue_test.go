package doctor

import "testing"

func TestKernelAtLeast(t *testing.T) {
	for release, want := range map[string]bool{
		"6.1.0-28-amd64":  true,
		"5.8.0":           true,
		"5.10.0-20-amd64": true,
		"5.7.19":          false,
		"4.19.0-27-amd64": false,
		"6.18.44-fc-v782": true,
		"garbage":         false,
	} {
		if got := kernelAtLeast(release, 5, 8); got != want {
			t.Errorf("%s: %v, want %v", release, got, want)
		}
	}
}
