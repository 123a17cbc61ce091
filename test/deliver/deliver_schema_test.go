package deliver

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/test/harness"
)

// A directory at an older schema version is not used read-only: ebb
// deliver -d opens it the usual way, which migrates it, says why at debug
// level, and delivers.
func TestDeliverMigratesAnOlderDirectory(t *testing.T) {
	t.Parallel()
	m := harness.NewMailEnv(t, "\n[log]\nlevel = \"debug\"\n")
	m.AddMailboxes("example.com", []string{"alice"}, nil)
	if directory.SchemaVersion() != 5 {
		t.Fatalf("the schema is at version %d: take the database below back to version %d by undoing what the newer migrations add", directory.SchemaVersion(), directory.SchemaVersion()-1)
	}
	ctx := context.Background()
	// Back to version 1: without what versions 2 to 5 added (the fetch
	// tables, and fetch_outcomes with fetch_seen's later columns).
	cfg, d := m.OpenDirectory()
	for _, q := range []string{`DROP TABLE fetch_outcomes`, `DROP TABLE fetch_seen`, `DROP TABLE fetch_folders`, `DROP TABLE fetch_accounts`, `DELETE FROM ebb_schema WHERE version > 1`} {
		if _, err := d.DB().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if v, err := d.CurrentVersion(ctx); err != nil || v != 1 {
		t.Fatalf("CurrentVersion = %d, %v; want 1", v, err)
	}
	d.Close()
	harness.Chown(t, filepath.Join(m.Dir, "data"), m.User)

	r := m.Deliver(harness.DeliverMessage("old schema", 500), "-d", "alice@example.com")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	onlyMessage(t, m.BoxOf("alice", "example.com"))
	if !strings.Contains(r.Stderr, "schema version 1, this ebb's is 5") {
		t.Errorf("stderr does not say why the directory was opened read-write: %s", r.Stderr)
	}
	d, err := directory.OpenWith(ctx, cfg, directory.Options{NoMigrate: true, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if v, err := d.CurrentVersion(ctx); err != nil || v != directory.SchemaVersion() {
		t.Fatalf("after the delivery CurrentVersion = %d, %v; want %d (migrated)", v, err, directory.SchemaVersion())
	}
}

// A directory locked past directory.busy_timeout fails the delivery with
// the lock's own error, temporarily (75), after one busy_timeout: the
// read-only open's failure is not followed by a second, read-write open
// that would wait as long again.
func TestDeliverBusyDirectoryWaitsOnce(t *testing.T) {
	// Not t.Parallel: it measures one busy_timeout against two: alone.
	const busy = 3 * time.Second
	m := harness.NewMailEnv(t, fmt.Sprintf("\n[directory]\nbusy_timeout = %q\n", busy.String()))
	m.AddMailboxes("example.com", []string{"alice"}, nil)
	ctx := context.Background()
	_, d := m.OpenDirectory()
	defer d.Close()
	// In WAL mode only a connection in exclusive locking mode that has
	// written keeps readers out.
	conn, err := d.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{`PRAGMA locking_mode=EXCLUSIVE`, `BEGIN`, `INSERT INTO domains (name) VALUES ('locked.example')`} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	harness.Chown(t, filepath.Join(m.Dir, "data"), m.User)

	start := time.Now()
	r := m.Deliver(harness.DeliverMessage("busy", 100), "-d", "alice@example.com")
	took := time.Since(start)
	if r.Code != diag.ExTempFail || !strings.Contains(r.Stderr, "busy_timeout") {
		t.Fatalf("exit %d, want 75 naming directory.busy_timeout: %s", r.Code, r.Stderr)
	}
	// Two waits take 2*busy at the least; one leaves most of a
	// busy_timeout for the process's start.
	if took < busy || took > 2*busy-250*time.Millisecond {
		t.Fatalf("took %v with busy_timeout %v: want one wait, not two", took, busy)
	}
	nothingDelivered(t, m.BoxOf("alice", "example.com"))
	conn.ExecContext(ctx, `ROLLBACK`)
}
