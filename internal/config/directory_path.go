package config

import (
	"path/filepath"
	"strings"

	"github.com/ebbmail/ebb/internal/diag"
)

// SQLiteDirectory is the SQLite file of the directory, and the setting
// that chose it: server.data_dir/directory.db when directory.dsn is empty,
// the path of a sqlite: DSN. It is "" (and nil) when the directory is on
// PostgreSQL. Commands that create the file, doctor and the Dovecot
// configuration read directory.dsn through this one function.
func (c *Config) SQLiteDirectory() (path string, setting *diag.Setting) {
	dsn := strings.TrimSpace(c.Directory.DSN)
	switch {
	case dsn == "":
		return filepath.Join(c.Server.DataDir, "directory.db"), c.Setting("server.data_dir")
	case strings.HasPrefix(dsn, "sqlite:"):
		return strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//"), c.Setting("directory.dsn")
	}
	return "", nil
}
