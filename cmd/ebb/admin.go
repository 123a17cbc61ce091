package main

import (
	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
)

// withDirectory parses the command line (between min and max arguments)
// and runs fn on the directory opened for an administration command
// (directory.OpenForCommand: run as root, what it creates belongs to the
// mail user; with opt.ReadOnly nothing is created). The exit code is fn's
// error's, 0 without one.
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
	d, err := directory.OpenForCommand(c.Ctx, cfg, opt)
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
