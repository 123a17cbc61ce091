package directory_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/resolve"
)

func mapStale(t *testing.T, db string) error {
	t.Helper()
	m, err := resolve.OpenMap(resolve.MapPath(db), resolve.Options{})
	if err != nil {
		return err
	}
	defer m.Close()
	return m.Stale(db)
}

// The delivery map follows the database: written at each change, still
// fresh after the last connection closes (a checkpoint and the -wal's
// removal change the files, not a row), stale after a change made outside
// ebb, and written again by the next open for writing or by ebb deliver's
// RefreshMap.
func TestDeliveryMapFollowsTheDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := testConfig(dir)
	db := filepath.Join(dir, "directory.db")
	d, err := directory.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddMailbox(ctx, directory.Mailbox{Address: "alice@example.com", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPassword(ctx, "alice@example.com", "a secret"); err != nil {
		t.Fatal(err)
	}
	if err := mapStale(t, db); err != nil {
		t.Fatalf("after a change: %v", err)
	}
	d.Close()
	if _, err := os.Stat(db + "-wal"); err == nil {
		t.Fatal("the last connection left its -wal: this test no longer sees a checkpoint")
	}
	if err := mapStale(t, db); err != nil {
		t.Fatalf("after the last connection closed: %v", err)
	}

	// A change made outside ebb.
	raw, err := sql.Open("sqlite", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO aliases (lookup, address, domain, destination) VALUES ('team@example.com', 'team@example.com', 'example.com', 'alice@example.com')`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if err := mapStale(t, db); err == nil {
		t.Fatal("a change made outside ebb left the map fresh")
	}

	// ebb deliver's open (read-only) writes it again when asked.
	rd, err := directory.OpenForDelivery(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rd.RefreshMap(ctx); err != nil {
		t.Fatal(err)
	}
	rd.Close()
	if err := mapStale(t, db); err != nil {
		t.Fatalf("after ebb deliver's RefreshMap: %v", err)
	}
	m, err := resolve.OpenMap(resolve.MapPath(db), d.ResolveOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r, err := m.Resolve(ctx, "team@example.com")
	if err != nil || len(r.Mailboxes) != 1 || r.Mailboxes[0].Address != "alice@example.com" {
		t.Fatalf("the alias added outside, through the map: %+v %v", r, err)
	}

	// And an open for writing makes a stale map fresh.
	os.Chmod(db, 0o600) // a change of the files, no row
	if err := mapStale(t, db); err == nil {
		t.Fatal("chmod left the map fresh")
	}
	d2, err := directory.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d2.Close()
	if err := mapStale(t, db); err != nil {
		t.Fatalf("after an open for writing and its close: %v", err)
	}
	// The map has the database's mode, and holds no password hash.
	st, _ := os.Stat(resolve.MapPath(db))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("the map's mode is %v, the database's 0600", st.Mode().Perm())
	}
	if b, _ := os.ReadFile(resolve.MapPath(db)); strings.Contains(string(b), "argon2") {
		t.Fatal("the map holds a password hash")
	}
}
