package main

import (
	"fmt"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
)

var directoryCmd = &cli.Command{Name: "directory", Summary: "the directory's schema, and where an address leads", Sub: []*cli.Command{
	{Name: "migrate", Summary: "bring the directory's schema up to date", Do: func(c *cli.Call) cli.Action {
		return withDirectory(c, directory.Options{NoMigrate: true}, func(d *directory.Directory, _ *config.Config) error {
			from, to, err := d.Migrate(c.Ctx)
			switch {
			case err != nil:
				return err
			case from == to:
				fmt.Fprintf(c.Stdout, "%s: schema at version %d, up to date\n", d.Where(), to)
			default:
				fmt.Fprintf(c.Stdout, "%s: schema migrated from version %d to %d\n", d.Where(), from, to)
			}
			return nil
		})
	}},
	{Name: "resolve", Args: "ADDRESS", JSON: true, Summary: "where mail for ADDRESS goes: mailboxes, forwards, aliases passed (exit 67: nowhere)", Do: func(c *cli.Call) cli.Action {
		return withDirectory(c, directory.Options{ReadOnly: true}, func(d *directory.Directory, _ *config.Config) error {
			r, err := d.Resolve(c.Ctx, c.Args[0])
			if err != nil {
				return err
			}
			directory.WriteResolution(c.Stdout, r, c.AsJSON)
			if r.Unknown() {
				return cli.Exit(diag.ExNoUser)
			}
			return nil
		})
	}},
}}
