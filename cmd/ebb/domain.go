package main

import (
	"fmt"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
)

var domainCmd = &cli.Command{Name: "domain", Summary: "the hosted domains and domain aliases", Sub: []*cli.Command{
	{Name: "add", Args: "NAME", Summary: "host a domain, or make it an alias of a hosted one (--alias-of)", Do: domainAdd},
	{Name: "list", JSON: true, Summary: "the domains with their mailboxes and aliases", Do: domainList},
	{Name: "remove", Args: "NAME", Summary: "stop hosting a domain (--force with mailboxes; their mail stays unless --delete-mail)", Do: domainRemove},
}}

func domainAdd(c *cli.Call) cli.Action {
	aliasOf := c.Flags.String("alias-of", "", "make NAME a domain alias of this hosted `DOMAIN`")
	return withDirectory(c, directory.Options{}, func(d *directory.Directory, _ *config.Config) error {
		return d.AddDomainFromCommand(c.Ctx, c.Stdout, c.Args[0], *aliasOf)
	})
}

func domainList(c *cli.Call) cli.Action {
	return withDirectory(c, directory.Options{ReadOnly: true}, func(d *directory.Directory, _ *config.Config) error {
		ds, err := d.Domains(c.Ctx)
		if err == nil {
			directory.WriteDomains(c.Stdout, ds, c.AsJSON)
		}
		return err
	})
}

func domainRemove(c *cli.Call) cli.Action {
	force := c.Flags.Bool("force", false, "remove the domain even though it has mailboxes (their mail stays on disk)")
	deleteMail := c.Flags.Bool("delete-mail", false, "also delete the Maildirs of the removed mailboxes")
	return withDirectory(c, directory.Options{}, func(d *directory.Directory, cfg *config.Config) error {
		res, err := d.RemoveDomain(c.Ctx, c.Args[0], *force)
		if err != nil {
			return err
		}
		for _, d := range res.Domains {
			fmt.Fprintf(c.Stdout, "domain %s removed\n", d)
		}
		fmt.Fprintf(c.Stdout, "%s and %s removed from the directory\n", diag.Count(len(res.Mailboxes), "mailbox"), diag.Count(res.Aliases, "alias destination"))
		return c.FailEach(deliver.RemoveMail(c.Stdout, cfg, res.Mailboxes, *deleteMail)) // where their mail stays, or its deletion
	})
}
