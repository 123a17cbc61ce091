package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/logging"
	"github.com/ebbmail/ebb/internal/mailuser"
)

// A directory that cannot be made for server.user before the privileges
// are dropped is said: what (mkdir), where (the path that failed), why
// (the OS error) and the setting that chose it; the others are made.
func TestOwnDirectoryNotMadeIsSaid(t *testing.T) {
	cfg := config.Defaults()
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	os.WriteFile(file, nil, 0o600) // a file where a directory's parent should be: root cannot make it either
	cfg.Queue.Spool = filepath.Join(tmp, "spool")
	cfg.Server.DataDir = filepath.Join(tmp, "data")
	cfg.Mail.Root = filepath.Join(file, "mail")
	var logBuf strings.Builder
	lg, err := logging.New(&logBuf, "logfmt", "warn")
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{cfg: cfg, log: lg}
	d.makeOwnDirs(&mailuser.User{Name: "self", UID: os.Getuid(), GID: os.Getgid()})
	for _, p := range []string{cfg.Queue.Spool, cfg.Server.DataDir} {
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			t.Errorf("%s not made: %v", p, err)
		}
	}
	l := logBuf.String()
	if !strings.Contains(l, "cannot create a directory for server.user") || !strings.Contains(l, cfg.Mail.Root) ||
		!strings.Contains(l, "not a directory") || !strings.Contains(l, "setting=mail.root") {
		t.Errorf("log %q, want the path, why and mail.root", l)
	}
	if strings.Count(l, "cannot create a directory") != 1 {
		t.Errorf("log %q, want one line", l)
	}
}
