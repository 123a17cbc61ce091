package deliver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// Sieve editheader (RFC 5293) at delivery: the stored copy carries the
// header as the script left it, and a protected field cannot be removed.
func TestSieveEditheaderChangesTheStoredMessage(t *testing.T) {
	t.Parallel()
	dir := harness.Dir(t)
	home := filepath.Join(dir, "home")
	os.MkdirAll(filepath.Join(home, "Maildir"), 0o755)
	cfg := filepath.Join(dir, "ebb.toml")
	os.WriteFile(cfg, []byte("[server]\nuser = \"root\"\ndata_dir = \""+dir+"/data\"\n[mail]\nroot = \""+dir+"\"\n[sieve]\nhome = \""+home+"\"\n"), 0o644)
	os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte(`require ["editheader", "fileinto"];
addheader "X-Filtered" "by ebb";
addheader :last "X-Trailer" "last one";
deleteheader "X-Spam";
deleteheader "Received";
fileinto "Work";
`), 0o644)
	msg := "Received: from relay.example.net\nFrom: a@example.net\nSubject: hi\nX-Spam: yes\n\nbody stays\n"
	cmd := exec.Command(harness.Ebb(t), "deliver", "-c", cfg, "--maildir", filepath.Join(home, "Maildir"), "-f", "a@example.net")
	if r := harness.Run(t, cmd, []byte(msg)); r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	files, _ := filepath.Glob(filepath.Join(home, "Maildir", ".Work", "new", "*"))
	if len(files) != 1 {
		t.Fatalf("stored %v", files)
	}
	b, _ := os.ReadFile(files[0])
	got := string(b)
	want := "X-Filtered: by ebb\nReturn-Path: <a@example.net>\nReceived: from relay.example.net\nFrom: a@example.net\nSubject: hi\nX-Trailer: last one\n\nbody stays\n"
	if got != want {
		t.Errorf("stored:\n%s\nwant:\n%s", got, want)
	}
	if !strings.HasSuffix(files[0], ",S="+strconv.Itoa(len(want))+",W="+strconv.Itoa(len(want)+strings.Count(want, "\n"))) {
		t.Errorf("name %s: sizes not exact", filepath.Base(files[0]))
	}
}
