package main

import (
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
)

// openDirectory opens the directory the config names, for commands that
// resolve addresses (deliver -d, serve). It returns the resolver and a
// function that closes it.
//
// Until the directory backends land (issue 3) there is no directory: a nil
// resolver means addresses map to Maildirs through mail.maildir alone.
func openDirectory(e *env, cfg *config.Config) (directory.Resolver, func(), error) {
	return nil, func() {}, nil
}
