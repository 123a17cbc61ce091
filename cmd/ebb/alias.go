package main

import (
	"fmt"
	"strings"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
)

var aliasCmd = &cli.Command{Name: "alias", Summary: "aliases and catch-alls (@domain); destinations may be local or remote", Sub: []*cli.Command{
	{Name: "add", Args: "ADDRESS DESTINATION...", Summary: "send mail for ADDRESS (@domain: the catch-all) to the destinations", Do: func(c *cli.Call) cli.Action {
		return withDirectory(c, directory.Options{}, func(d *directory.Directory, _ *config.Config) error {
			if err := d.AddAlias(c.Ctx, c.Args[0], c.Args[1:]...); err != nil {
				return err
			}
			fmt.Fprintf(c.Stdout, "alias %s → %s added\n", c.Args[0], strings.Join(c.Args[1:], ", "))
			return nil
		})
	}},
	{Name: "list", Args: "[DOMAIN]", JSON: true, Summary: "the aliases, of one domain or all", Do: func(c *cli.Call) cli.Action {
		return withDirectory(c, directory.Options{ReadOnly: true}, func(d *directory.Directory, _ *config.Config) error {
			as, err := d.Aliases(c.Ctx, strings.Join(c.Args, ""))
			if err == nil {
				directory.WriteAliases(c.Stdout, as, c.AsJSON)
			}
			return err
		})
	}},
	{Name: "remove", Args: "ADDRESS [DESTINATION...]", Summary: "remove the alias, or only the destinations given", Do: func(c *cli.Call) cli.Action {
		return withDirectory(c, directory.Options{}, func(d *directory.Directory, _ *config.Config) error {
			n, err := d.RemoveAlias(c.Ctx, c.Args[0], c.Args[1:]...)
			if err == nil {
				fmt.Fprintf(c.Stdout, "alias %s: %s removed\n", c.Args[0], diag.Count(n, "destination"))
			}
			return err
		})
	}},
}}
