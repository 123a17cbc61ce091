package deliver

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// onlyMessage returns the one file in dir/new, failing otherwise, and checks
// that tmp/ is empty and that the name's S= and W= are exact.
func onlyMessage(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	got := harness.MaildirFiles(t, dir, "new")
	if len(got) != 1 {
		t.Fatalf("%s/new holds %d files, want 1: %v", dir, len(got), got)
	}
	if tmp := harness.MaildirFiles(t, dir, "tmp"); len(tmp) != 0 {
		t.Fatalf("%s/tmp not empty after delivery: %v", dir, tmp)
	}
	data, err := os.ReadFile(got[0])
	if err != nil {
		t.Fatal(err)
	}
	checkSizes(t, got[0], data)
	return got[0], data
}

var sizeRE = regexp.MustCompile(`,S=(\d+),W=(\d+)(:2,.*)?$`)

// checkSizes pins what Dovecot depends on: S= is the file size, W= the
// size with every bare LF counted as CRLF.
func checkSizes(t *testing.T, path string, data []byte) {
	t.Helper()
	mm := sizeRE.FindStringSubmatch(filepath.Base(path))
	if mm == nil {
		t.Fatalf("name %s lacks ,S=<n>,W=<n>", filepath.Base(path))
	}
	s, _ := strconv.Atoi(mm[1])
	w, _ := strconv.Atoi(mm[2])
	if s != len(data) {
		t.Errorf("S=%d but the file has %d bytes", s, len(data))
	}
	want := len(data) + bytes.Count(data, []byte("\n")) - bytes.Count(data, []byte("\r\n"))
	if w != want {
		t.Errorf("W=%d, want %d", w, want)
	}
}

// nothingDelivered checks that a failed delivery left no trace.
func nothingDelivered(t *testing.T, dir string) {
	t.Helper()
	for _, s := range []string{"tmp", "new", "cur"} {
		if f := harness.MaildirFiles(t, dir, s); len(f) != 0 {
			t.Errorf("%s/%s holds %v after a failed delivery", dir, s, f)
		}
	}
}
