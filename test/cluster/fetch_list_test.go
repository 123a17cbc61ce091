package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/cluster"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetchstate"
	"github.com/ebbmail/ebb/test/harness"
)

// ebb fetch list on a host sharing its directory, when the fetch leases
// cannot be read (here their table is gone): the accounts are still
// listed, each saying that the host fetching it is unknown and why, the
// error is said on stderr, and the exit code is that error's, not 0 (a
// partial answer), nor nothing listed at all.
func TestClusterFetchListWithLeasesUnreadable(t *testing.T) {
	t.Parallel() // a database of its own
	ctx := context.Background()
	dsn := harness.SharedPostgres(t).NewDatabase(t)
	d := harness.OpenDir(t, harness.DirConfig(t.TempDir(), dsn))
	if _, err := cluster.Open(ctx, d, "mx1", nil); err != nil {
		t.Fatal(err)
	}
	if err := d.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddMailbox(ctx, directory.Mailbox{Address: "alice@example.test", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	a := fetchstate.FetchAccount{Name: "work", Protocol: "imap", Host: "imap.remote.example", Port: 993, TLS: "implicit", Username: "alice",
		Auth: "password", Mailbox: "alice@example.test", After: "keep", Enabled: true, Folders: []string{"INBOX"}}
	if err := fetchstate.New(d).AddFetchAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	dir := harness.Dir(t)
	conf := filepath.Join(dir, "ebb.toml")
	if err := os.WriteFile(conf, []byte(harness.ConfHead("mx1.example.test", "root", dir)+fmt.Sprintf("[directory]\ndsn = %q\nshared_state = true\n", dsn)), 0o644); err != nil {
		t.Fatal(err)
	}
	list := func() harness.Result {
		return harness.Run(t, exec.Command(harness.Ebb(t), "fetch", "list", "-c", conf), nil)
	}
	if r := list(); r.Code != 0 || !strings.Contains(r.Stdout, "work") || !strings.Contains(r.Stdout, "fetched by: no host yet") {
		t.Fatalf("leases readable: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if _, err := d.DB().ExecContext(ctx, `ALTER TABLE fetch_leases RENAME TO fetch_leases_gone`); err != nil {
		t.Fatal(err)
	}
	r := list()
	if r.Code != 75 || !strings.Contains(r.Stderr, "fetch_leases") {
		t.Errorf("leases unreadable: exit %d, stderr %q; want the database's error said and exit 75 (temporary)", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "work") || !strings.Contains(r.Stdout, "fetched by: unknown (the hosts' leases could not be read: ") {
		t.Errorf("leases unreadable: the account is not listed with its owner unknown:\n%s", r.Stdout)
	}
}
