package smtp

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// ebb doctor checks what ebb serve needs: the spool as the daemon user, the
// listen addresses (in use by the running daemon is fine), and the TLS
// certificate (valid, for server.hostname, not near its end).
func TestServeDoctor(t *testing.T) {
	t.Parallel()
	e := harness.NewServeEnv(t, harness.ServeOpts{TLS: true})
	doctor := func() string {
		r := harness.Run(t, exec.Command(harness.Ebb(t), "doctor", "-c", e.Conf), nil)
		return r.Stdout + r.Stderr
	}
	out := doctor()
	for _, want := range []string{
		"ok    queue.spool      " + filepath.Join(e.Spool, "queue") + ": writable and fsyncable by uid",
		"ok    smtp.listen      " + e.SMTP + ": in use by the running ebb serve, pid",
		"ok    smtp.tls         " + e.Cert + ": valid for mx.example.test until",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor lacks %q:\n%s", want, out)
		}
	}

	// A certificate for another name, and a spool the daemon user cannot
	// write.
	harness.ServeCert(t, e.Dir, "other.example.net", 3)
	os.Chmod(filepath.Join(e.Spool, "queue"), 0o500)
	defer os.Chmod(filepath.Join(e.Spool, "queue"), 0o700)
	out = doctor()
	for _, want := range []string{
		"WARN  smtp.tls         ebb doctor: cannot use the TLS certificate " + e.Cert + ": it names other.example.net, other.example.net, not mx.example.test (server.hostname)",
		"FAIL  queue.spool",
		"running as uid " + itoa(e.User.UID) + " " + e.User.Name,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor lacks %q:\n%s", want, out)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
