package directory_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/directory/directorytest"
)

// testConfig is a config for a test directory: cache off so that every
// lookup reaches the database, argon2 cheap.
func testConfig(dir string) *config.Config {
	c := config.Defaults()
	c.Server.DataDir = dir
	c.Directory.CacheTTL = config.D(0)
	c.Directory.Argon2Memory = 8 << 20
	c.Directory.Argon2Time = 1
	return c
}

func TestSuiteOnSQLite(t *testing.T) {
	directorytest.Run(t, func(t *testing.T) *directory.Directory {
		d, err := directory.Open(context.Background(), testConfig(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	})
}

func TestOpenCreatesTheFileInDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	d, err := directory.Open(context.Background(), testConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Where() != filepath.Join(dir, "directory.db") {
		t.Fatalf("Where() = %q", d.Where())
	}
	v, err := d.CurrentVersion(context.Background())
	if err != nil || v != directory.SchemaVersion() {
		t.Fatalf("CurrentVersion = %d, %v; want %d", v, err, directory.SchemaVersion())
	}
}
