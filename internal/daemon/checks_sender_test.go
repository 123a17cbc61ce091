package daemon

import (
	"context"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/logging"
	"github.com/ebbmail/ebb/internal/policy"
)

// A vacation :from the directory cannot judge is refused (the mailbox's
// own address is used), and the log says it was the directory, with its
// error, not that the mailbox may not send as it.
func TestVacationFromDirectoryTroubleIsSaid(t *testing.T) {
	ctx := context.Background()
	cfg := config.Defaults()
	cfg.Mail.Root = t.TempDir()
	cfg.Server.DataDir = t.TempDir()
	cfg.Submission.SenderPolicy = string(policy.SenderOwn)
	dir, err := directory.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	dir.Close() // the directory no longer answers
	var logBuf strings.Builder
	lg, err := logging.New(&logBuf, "logfmt", "info")
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{cfg: cfg, dir: dir, log: lg}
	if d.mayWriteAs(ctx, "alice@example.test", "team@example.test") {
		t.Fatal("a :from the directory could not judge was allowed")
	}
	for _, want := range []string{"directory", "alice@example.test", "team@example.test", "err="} {
		if !strings.Contains(logBuf.String(), want) {
			t.Errorf("log lacks %q: %q", want, logBuf.String())
		}
	}
}
