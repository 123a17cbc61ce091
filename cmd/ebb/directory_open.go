package main

import (
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
)

// openDirectory opens the directory the config names (SQLite in
// server.data_dir by default, PostgreSQL by directory.dsn), for commands that
// resolve addresses (deliver -d, serve). It returns the resolver and a
// function that closes it. Errors are *diag.Error: an unreachable database is
// temporary and names the database and the cause.
func openDirectory(e *env, cfg *config.Config) (directory.Resolver, func(), error) {
	d, err := directory.Open(e.ctx, cfg)
	if err != nil {
		return nil, func() {}, err
	}
	return d, func() { d.Close() }, nil
}
