package directory

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/resolve"
	"github.com/ebbmail/ebb/test/harness"
)

// ebb deliver -d resolves through the directory: `ebb user add` followed by
// `ebb deliver -d` lands in that user's Maildir, aliases fan out, unknown
// addresses exit 67, a disabled mailbox is permanent, and a directory that
// cannot be reached is temporary (75) with a sentence naming the database.
func TestDirectoryDeliverThroughTheDirectory(t *testing.T) {
	t.Parallel()
	for _, b := range dirBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			b.must(t, nil, "domain", "add", "example.test")
			b.must(t, nil, "domain", "add", "example.org", "--alias-of", "example.test")
			b.must(t, []byte("pw\n"), "user", "add", "alice@example.test")
			b.must(t, []byte("pw\n"), "user", "add", "bob@example.test")
			b.must(t, []byte("pw\n"), "user", "add", "carl@example.test", "--disabled")
			b.must(t, nil, "alias", "add", "team@example.test", "alice@example.test", "bob@example.test")

			deliver := func(addr string) harness.Result {
				msg := fmt.Sprintf("From: sender@remote.example\nTo: %s\nSubject: to %s\n\nhello %s\n", addr, addr, addr)
				return b.ebb(t, []byte(msg), "deliver", "-d", addr, "-f", "sender@remote.example")
			}
			count := func(local string) int {
				es, _ := os.ReadDir(filepath.Join(b.mailRoot, "example.test", local, "Maildir", "new"))
				return len(es)
			}

			if r := deliver("alice@example.test"); r.Code != 0 {
				t.Fatalf("deliver to a user just added: exit %d: %s", r.Code, r.Stderr)
			}
			if count("alice") != 1 {
				t.Fatalf("alice has %d messages; want 1", count("alice"))
			}
			if r := deliver("Alice+news@EXAMPLE.org"); r.Code != 0 {
				t.Fatalf("deliver via domain alias and subaddress: exit %d: %s", r.Code, r.Stderr)
			}
			if r := deliver("team@example.test"); r.Code != 0 {
				t.Fatalf("deliver to an alias: exit %d: %s", r.Code, r.Stderr)
			}
			if count("alice") != 3 || count("bob") != 1 {
				t.Fatalf("after the alias: alice %d, bob %d; want 3 and 1", count("alice"), count("bob"))
			}
			// The Maildir belongs to server.user, as a Dovecot running as vmail needs.
			fi, err := os.Stat(filepath.Join(b.mailRoot, "example.test", "alice", "Maildir", "new"))
			if err != nil || fi.Sys() == nil {
				t.Fatal(err)
			}

			if r := deliver("nobody@example.test"); r.Code != diag.ExNoUser {
				t.Fatalf("deliver to an unknown address: exit %d; want 67 (%s)", r.Code, r.Stderr)
			}
			if r := deliver("carl@example.test"); r.Code == 0 || r.Code == diag.ExTempFail || !strings.Contains(r.Stderr, "disabled") {
				t.Fatalf("deliver to a disabled mailbox: exit %d %q; want a permanent failure naming it disabled", r.Code, r.Stderr)
			}
			if count("carl") != 0 {
				t.Fatal("a disabled mailbox received mail")
			}

			// ebb-deliver, the MDA binary, answers the same through either
			// database. It links no SQL driver: a SQLite directory's
			// delivery map gives it the answer (resolve.Map), a stale or
			// missing map and a PostgreSQL directory (which has none) make
			// it hand the delivery to the full ebb. Its copy here is alone
			// in its directory, so the ebb it hands to is the one found on
			// PATH (the harness's build dir has both: the other branch, ebb
			// beside ebb-deliver); without bin on PATH it has none.
			bin := t.TempDir()
			if err := os.Symlink(harness.Ebb(t), filepath.Join(bin, "ebb")); err != nil {
				t.Fatal(err)
			}
			alone := filepath.Join(t.TempDir(), "ebb-deliver")
			if src, err := os.ReadFile(harness.EbbDeliver(t)); err != nil {
				t.Fatal(err)
			} else if err := os.WriteFile(alone, src, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Dir(alone), 0o755); err != nil {
				t.Fatal(err)
			}
			mdaPath := func(path, addr string) harness.Result {
				msg := fmt.Sprintf("From: sender@remote.example\nTo: %s\nSubject: mda to %s\n\nhello %s\n", addr, addr, addr)
				cmd := exec.Command(alone, "-c", b.cfgFile, "-d", addr, "-f", "sender@remote.example")
				cmd.Env = []string{"PATH=" + path}
				return harness.Run(t, cmd, []byte(msg))
			}
			mda := func(addr string) harness.Result { return mdaPath(bin+":/usr/bin:/bin", addr) }
			if r := mda("bob@example.test"); r.Code != 0 {
				t.Fatalf("ebb-deliver -d bob: exit %d: %s", r.Code, r.Stderr)
			}
			if count("bob") != 2 {
				t.Fatalf("after ebb-deliver bob has %d messages; want 2", count("bob"))
			}
			if r := mda("nobody@example.test"); r.Code != diag.ExNoUser {
				t.Fatalf("ebb-deliver to an unknown address: exit %d; want 67 (%s)", r.Code, r.Stderr)
			}
			if b.name != "sqlite" {
				return
			}
			// With no ebb to hand over to, the map alone answers: the
			// alias through the domain alias and a subaddress, and the
			// database's files are not touched (the map stays fresh).
			db := filepath.Join(b.dataDir, "directory.db")
			before, err := resolve.StampOf(db)
			if err != nil {
				t.Fatal(err)
			}
			if r := mdaPath("/usr/bin:/bin", "team+x@example.org"); r.Code != 0 {
				t.Fatalf("ebb-deliver -d team+x@example.org from the map alone: exit %d: %s", r.Code, r.Stderr)
			}
			if count("alice") != 4 || count("bob") != 3 {
				t.Fatalf("after the alias from the map: alice %d, bob %d; want 4 and 3", count("alice"), count("bob"))
			}
			if after, _ := resolve.StampOf(db); after != before {
				t.Fatalf("a delivery from the map changed the database's files: %+v -> %+v", before, after)
			}
			// A change made outside ebb (sqlite3, as the mail user): the map
			// is stale and never used; without ebb to hand over to, the
			// delivery is deferred (75) and says why.
			sql := `INSERT INTO aliases (lookup, address, domain, destination) VALUES ('outside@example.test', 'outside@example.test', 'example.test', 'bob@example.test')`
			if out, err := harness.AsUser(exec.Command("sqlite3", db, sql), harness.Unprivileged(t)).CombinedOutput(); err != nil {
				t.Fatalf("sqlite3: %v %s", err, out)
			}
			if r := mdaPath("/usr/bin:/bin", "outside@example.test"); r.Code != diag.ExTempFail || !strings.Contains(r.Stderr, "stale") {
				t.Fatalf("ebb-deliver with a stale map and no ebb: exit %d %q; want 75 saying the map is stale", r.Code, r.Stderr)
			}
			// With ebb: handed over, the new alias followed, and the map
			// written again, so that the next delivery needs no ebb.
			if r := mda("outside@example.test"); r.Code != 0 {
				t.Fatalf("ebb-deliver -d outside@ with a stale map: exit %d: %s", r.Code, r.Stderr)
			}
			if count("bob") != 4 {
				t.Fatalf("the alias added with sqlite3 was not followed: bob has %d; want 4", count("bob"))
			}
			if r := mdaPath("/usr/bin:/bin", "outside@example.test"); r.Code != 0 || count("bob") != 5 {
				t.Fatalf("ebb-deliver after ebb deliver rewrote the map: exit %d, bob %d: %s", r.Code, count("bob"), r.Stderr)
			}
		})
	}
}

func TestDirectoryDeliverWithUnreachableDirectoryIsTemporary(t *testing.T) {
	t.Parallel()
	t.Run("postgres down", func(t *testing.T) {
		port := harness.FreePort(t)
		b := newDirBackend(t, "postgres", fmt.Sprintf("postgres://ebb:pw@127.0.0.1:%d/mail", port))
		r := b.ebb(t, []byte("Subject: x\n\nx\n"), "deliver", "-d", "alice@example.test")
		want := fmt.Sprintf("127.0.0.1:%d", port)
		if r.Code != diag.ExTempFail || !strings.Contains(r.Stderr, want) || !strings.Contains(r.Stderr, "connection refused") {
			t.Fatalf("deliver with PostgreSQL down: exit %d %q; want 75 naming %s and the cause", r.Code, r.Stderr, want)
		}
	})
	t.Run("sqlite folder not writable by the delivery user", func(t *testing.T) {
		b := newDirBackend(t, "sqlite", "")
		b.must(t, nil, "domain", "add", "example.test")
		// The data directory given back to root: the daemon user can no
		// longer create the -wal and -shm files beside the database.
		if err := exec.Command("chown", "-R", "root:root", b.dataDir).Run(); err != nil {
			t.Fatal(err)
		}
		os.Chmod(b.dataDir, 0o755)
		r := b.ebb(t, []byte("Subject: x\n\nx\n"), "deliver", "-d", "alice@example.test")
		if r.Code != diag.ExTempFail || !strings.Contains(r.Stderr, b.dataDir) || !strings.Contains(r.Stderr, harness.TestUser) {
			t.Fatalf("deliver with an unwritable directory database: exit %d %q; want 75 naming %s and the user", r.Code, r.Stderr, b.dataDir)
		}
		t.Logf("unwritable: %s", r.Stderr)
	})
}
