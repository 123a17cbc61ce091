package directory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/directory/directorytest"
	_ "github.com/ebbmail/ebb/internal/directory/postgres" // PostgreSQL directories
	"github.com/ebbmail/ebb/test/harness"
)

// The directory's behaviour is one suite (internal/directory/directorytest)
// that both backends must pass: SQLite, and a real PostgreSQL server started
// here.

func TestDirectorySuiteSQLite(t *testing.T) {
	t.Parallel()
	directorytest.Run(t, func(t *testing.T) *directory.Directory {
		return harness.OpenDir(t, harness.DirConfig(t.TempDir(), ""))
	})
}

func TestDirectorySuitePostgres(t *testing.T) {
	t.Parallel()
	pg := harness.SharedPostgres(t)
	directorytest.Run(t, func(t *testing.T) *directory.Directory {
		d := harness.OpenDir(t, harness.DirConfig(t.TempDir(), pg.NewDatabase(t)))
		if d.Engine() != directory.Postgres {
			t.Fatalf("engine %s; want postgres", d.Engine())
		}
		return d
	})
}

// A stopped PostgreSQL is a temporary error naming host:port; when it comes
// back the same Directory works again without being reopened.
func TestDirectoryPostgresStoppedMidRunRecovers(t *testing.T) {
	t.Parallel()
	pg := harness.StartPostgres(t)
	ctx := context.Background()
	d := harness.OpenDir(t, harness.DirConfig(t.TempDir(), pg.NewDatabase(t)))
	if err := d.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddMailbox(ctx, directory.Mailbox{Address: "alice@example.com", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if r, err := d.Resolve(ctx, "alice@example.com"); err != nil || len(r.Mailboxes) != 1 {
		t.Fatalf("Resolve before stop = %v, %v", r, err)
	}

	pg.Stop(t)
	_, err := d.Resolve(ctx, "alice@example.com")
	de, ok := diag.As(err)
	if !ok {
		t.Fatalf("Resolve with PostgreSQL stopped = %v; want a *diag.Error", err)
	}
	if !de.Temporary() || de.ExitCode() != diag.ExTempFail {
		t.Fatalf("error %q is not temporary (exit %d)", de.Sentence(), de.ExitCode())
	}
	if !strings.Contains(de.Sentence(), pg.Addr()) {
		t.Fatalf("error %q does not name %s", de.Sentence(), pg.Addr())
	}
	if code, _, _ := de.SMTPReply(); code != 451 {
		t.Fatalf("SMTP reply %d; want 451", code)
	}
	if strings.Contains(fmt.Sprint(de.SMTPReply()), pg.Addr()) {
		t.Fatal("the SMTP reply leaks the database address")
	}
	t.Logf("while stopped: %s", de.Sentence())

	pg.Start(t)
	var r *directory.Resolution
	for i := 0; i < 50; i++ { // pooled connections died with the server
		if r, err = d.Resolve(ctx, "alice@example.com"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || len(r.Mailboxes) != 1 {
		t.Fatalf("Resolve after restart = %v, %v", r, err)
	}
}

// The schema a newer ebb wrote is refused, untouched, by Open and migrate.
func TestDirectorySchemaNewerThanBinaryIsRefused(t *testing.T) {
	t.Parallel()
	for _, b := range dirBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			d := harness.OpenDir(t, b.cfg)
			if _, err := d.DB().Exec(`INSERT INTO ebb_schema (version) VALUES (99)`); err != nil {
				t.Fatal(err)
			}
			d.Close()
			_, err := directory.Open(context.Background(), b.cfg)
			if !errors.Is(err, directory.ErrSchemaTooNew) {
				t.Fatalf("Open on a version 99 schema = %v; want ErrSchemaTooNew", err)
			}
			de, _ := diag.As(err)
			if de == nil || de.Temporary() || !strings.Contains(de.Sentence(), "version 99") || !strings.Contains(de.Sentence(), "upgrade") {
				t.Fatalf("error %v does not refuse clearly", err)
			}
			r := b.ebb(t, nil, "directory", "migrate")
			if r.Code != diag.ExConfig || !strings.Contains(r.Stderr, "version 99") {
				t.Fatalf("ebb directory migrate = %d %q; want 78 naming version 99", r.Code, r.Stderr)
			}
		})
	}
}

// dirBackend is one database for the CLI tests: a config file for the
// ebb binary and the same config in-process.
type dirBackend struct {
	name     string
	cfg      *config.Config
	cfgFile  string
	dataDir  string
	mailRoot string
}

// dirBackends returns a fresh SQLite and a fresh PostgreSQL directory.
func dirBackends(t *testing.T) []*dirBackend {
	pg := harness.SharedPostgres(t)
	return []*dirBackend{newDirBackend(t, "sqlite", ""), newDirBackend(t, "postgres", pg.NewDatabase(t))}
}

// newDirBackend writes a config whose server.user is the unprivileged test
// user, owning the data directory and the mail root (as vmail would).
func newDirBackend(t *testing.T, name, dsn string) *dirBackend {
	u := harness.Unprivileged(t)
	base := harness.Dir(t)
	b := &dirBackend{name: name, dataDir: filepath.Join(base, "data"), mailRoot: filepath.Join(base, "mail")}
	for _, p := range []string{b.dataDir, b.mailRoot} {
		if err := os.MkdirAll(p, 0o750); err != nil {
			t.Fatal(err)
		}
		harness.Chown(t, p, u)
	}
	text := fmt.Sprintf(`[server]
user = %q
data_dir = %q
[mail]
root = %q
[directory]
dsn = %q
argon2_memory = "8M"
argon2_time = 1
busy_timeout = "10s"
cache_ttl = "0s"
`, u.Name, b.dataDir, b.mailRoot, dsn)
	b.cfgFile = filepath.Join(base, "ebb.toml")
	if err := os.WriteFile(b.cfgFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(b.cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	b.cfg = c
	return b
}

// ebb runs the binary with this backend's config.
func (b *dirBackend) ebb(t *testing.T, stdin []byte, args ...string) harness.Result {
	t.Helper()
	cmd := exec.Command(harness.Ebb(t), append(args, "-c", b.cfgFile)...)
	return harness.Run(t, cmd, stdin)
}

func (b *dirBackend) must(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	r := b.ebb(t, stdin, args...)
	if r.Code != 0 {
		t.Fatalf("ebb %s: exit %d\n%s%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}
