package harness

import (
	"context"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	_ "github.com/ebbmail/ebb/internal/directory/postgres" // PostgreSQL directories
)

// DirConfig is the default config with the directory in dataDir (SQLite)
// or at dsn (PostgreSQL), no cache, and a cheap argon2id for quick tests.
func DirConfig(dataDir, dsn string) *config.Config {
	c := config.Defaults()
	c.Server.DataDir = dataDir
	c.Directory.DSN = dsn
	c.Directory.CacheTTL = config.D(0)
	c.Directory.Argon2Memory = 8 << 20
	c.Directory.Argon2Time = 1
	return c
}

// OpenDir opens the directory c names, closed when t ends.
func OpenDir(t *testing.T, c *config.Config) *directory.Directory {
	t.Helper()
	d, err := directory.Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
