package harness

import (
	"context"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	_ "github.com/ebbmail/ebb/internal/directory/postgres" // PostgreSQL directories
)

func DirConfig(dataDir, dsn string) *config.Config {
	c := config.Defaults()
	c.Server.DataDir = dataDir
	c.Directory.DSN = dsn
	c.Directory.CacheTTL = config.D(0)
	c.Directory.Argon2Memory = 8 << 20
	c.Directory.Argon2Time = 1
	return c
}

func OpenDir(t *testing.T, c *config.Config) *directory.Directory {
	t.Helper()
	d, err := directory.Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
