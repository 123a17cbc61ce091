package deliver

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// RFC 7352 §3: a message id is remembered only once the message is
// delivered. A delivery that fails (here: over quota, temporary) and is
// retried must not be taken for a duplicate of itself — a script that
// discards duplicates would otherwise lose an accepted message.
func TestSieveDuplicateIsRememberedOnlyAfterDelivery(t *testing.T) {
	t.Parallel()
	dir := harness.Dir(t)
	home := filepath.Join(dir, "home")
	box := filepath.Join(home, "Maildir")
	os.MkdirAll(box, 0o755)
	os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte("require \"duplicate\";\nif duplicate { discard; stop; }\n"), 0o644)
	cfg := filepath.Join(dir, "ebb.toml")
	write := func(quota string) {
		os.WriteFile(cfg, []byte("[server]\nuser = \"root\"\ndata_dir = \""+dir+"/data\"\n[mail]\nroot = \""+dir+"\"\nquota = \""+quota+"\"\n[sieve]\nhome = \""+home+"\"\n"), 0o644)
	}
	msg := []byte("From: a@example.net\nMessage-ID: <once@example.net>\nSubject: once\n\nbody\n")
	deliver := func() harness.Result {
		return harness.Run(t, exec.Command(harness.Ebb(t), "deliver", "-c", cfg, "--maildir", box, "-f", "a@example.net"), msg)
	}
	stored := func() int {
		n, _ := filepath.Glob(filepath.Join(box, "new", "*"))
		return len(n)
	}

	write("10") // smaller than the message: over quota, temporary
	if r := deliver(); r.Code != 75 {
		t.Fatalf("over quota: exit %d, want 75: %s", r.Code, r.Stderr)
	}
	write("0")
	os.Remove(filepath.Join(box, "maildirsize")) // it holds the quota of the first attempt
	if r := deliver(); r.Code != 0 || stored() != 1 {
		t.Fatalf("retry: exit %d, %d stored; the retry was taken for a duplicate: %s", r.Code, stored(), r.Stderr)
	}
	if r := deliver(); r.Code != 0 || stored() != 1 {
		t.Fatalf("a real duplicate: exit %d, %d stored, want it discarded: %s", r.Code, stored(), r.Stderr)
	}
}
