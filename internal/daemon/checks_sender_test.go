package daemon

import (
	"context"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/policy"
)

// A vacation :from the directory cannot judge is refused (the mailbox's
// own address is used) with the directory's error, which the filter's log
// line and the response's record name (sievefilter's
// TestVacationFromIsAnAddressOfTheMailbox), not that the mailbox may not
// send as it.
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
	d := &daemon{cfg: cfg, dir: dir}
	ok, err := d.mayWriteAs(ctx, "alice@example.test", "team@example.test")
	if ok || err == nil || !strings.Contains(err.Error(), "the directory did not answer (") {
		t.Fatalf("a :from the directory could not judge: allowed %v, error %v; want refused with the directory's error", ok, err)
	}
}
