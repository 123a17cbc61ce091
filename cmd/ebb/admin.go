package main

import (
	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/mailuser"
)

// withDirectory parses the command line (between min and max arguments)
// and runs fn on the directory, opened for an administration command: run
// as root, what it creates belongs to the mail user (it refuses first when
// that cannot be: directory.Options.Owner). The exit code is fn's error's,
// 0 without one. With opt.ReadOnly (a command that only reads: list,
// resolve) nothing is created, migrated or chowned
// (directory.OpenForReading), and the mail user need not exist.
func withDirectory(c *cli.Call, min, max int, opt directory.Options, fn func(d *directory.Directory, cfg *config.Config) error) int {
	if code, ok := c.Parse(min, max); !ok {
		return code
	}
	return openDirectory(c, opt, fn)
}

// openDirectory is withDirectory for a command line already parsed.
func openDirectory(c *cli.Call, opt directory.Options, fn func(d *directory.Directory, cfg *config.Config) error) int {
	cfg, code := c.Config()
	if cfg == nil {
		return code
	}
	var d *directory.Directory
	var err error
	if opt.ReadOnly {
		d, err = directory.OpenForReading(c.Ctx, cfg)
	} else {
		var owner *mailuser.User
		if owner, err = mailuser.ForRoot(cfg); err != nil {
			return c.Fail(err)
		}
		opt.Owner = owner
		d, err = directory.OpenWith(c.Ctx, cfg, opt)
	}
	if err != nil {
		return c.Fail(err)
	}
	err = fn(d, cfg)
	if cerr := d.Close(); cerr != nil {
		code := c.Fail(cerr)
		if err == nil {
			return code
		}
	}
	if err != nil {
		return c.Fail(err)
	}
	return 0
}

// jsonFlag is the --json flag of the listing commands.
func jsonFlag(c *cli.Call) *bool { return c.Flags.Bool("json", false, "print JSON") }
