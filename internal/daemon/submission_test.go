package daemon

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/logging"
)

// A pickup socket path too long for a Unix socket: ebb serve names the
// setting that chose it, sendmail.socket when that is set (as ebb doctor
// does), not sendmail.pickup_dir.
func TestPickupSocketTooLongAtStartNamesItsSetting(t *testing.T) {
	base := t.TempDir()
	long := filepath.Join(base, strings.Repeat("s", 120)+".sock")
	cfg, err := config.Parse("t.toml", []byte("[sendmail]\npickup_dir = \""+filepath.Join(base, "pickup")+"\"\nsocket = \""+long+"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.User = diag.Self().User
	lg, err := logging.New(io.Discard, "logfmt", "error")
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	d := &daemon{cfg: cfg, log: lg, stderr: &stderr}
	if code := d.bindSubmission(); code != 0 {
		t.Fatalf("bindSubmission: exit %d (%s)", code, stderr.String())
	}
	if d.sub.pickup != nil {
		t.Error("pickup on with a socket path too long")
	}
	if out := stderr.String(); !strings.Contains(out, "path from sendmail.socket = ") || strings.Contains(out, "path from sendmail.pickup_dir") {
		t.Errorf("stderr %q: want sendmail.socket named, not sendmail.pickup_dir", out)
	}
	if _, err := os.Stat(long); err == nil {
		t.Error("a socket was made")
	}
}
