package main

import (
	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
)

// withDirectory is an administration command's action: fn on the
// directory (openDirectory).
func withDirectory(c *cli.Call, opt directory.Options, fn func(d *directory.Directory, cfg *config.Config) error) cli.Action {
	return func(cfg *config.Config) error { return openDirectory(c, cfg, opt, fn) }
}

// openDirectory runs fn on the directory opened for an administration
// command (directory.OpenForCommand: run as root, what it creates belongs
// to the mail user; with opt.ReadOnly nothing is created), and closes it;
// a failure to close is said too.
func openDirectory(c *cli.Call, cfg *config.Config, opt directory.Options, fn func(d *directory.Directory, cfg *config.Config) error) error {
	d, err := directory.OpenForCommand(c.Ctx, cfg, opt)
	if err != nil {
		return err
	}
	err = fn(d, cfg)
	if cerr := d.Close(); cerr != nil {
		if err == nil {
			return cerr
		}
		c.Fail(cerr)
	}
	return err
}
