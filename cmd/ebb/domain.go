package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
)

// runDomain is `ebb domain add|list|remove`.
func runDomain(e *env) int {
	usage := "ebb domain add NAME [--alias-of DOMAIN] | list [--json] | remove NAME [--force] [--delete-mail]"
	if len(e.args) == 0 {
		fmt.Fprintln(e.stderr, "usage: "+usage)
		return diag.ExUsage
	}
	sub, args := e.args[0], e.args[1:]
	c := newAdminCmd(e, "ebb domain "+sub)
	switch sub {
	case "add":
		aliasOf := c.fs.String("alias-of", "", "make NAME a domain alias of this hosted domain")
		if !c.parse(args, 1, 1, "ebb domain add NAME [--alias-of DOMAIN]") {
			return diag.ExUsage
		}
		if code := c.open(); code != 0 {
			return code
		}
		defer c.close()
		var err error
		if *aliasOf != "" {
			err = c.dir.AddDomainAlias(e.ctx, c.args[0], *aliasOf)
		} else {
			err = c.dir.AddDomain(e.ctx, c.args[0])
		}
		if err != nil {
			return c.fail(err)
		}
		n, _ := directory.NormalizeDomain(c.args[0])
		if *aliasOf != "" {
			fmt.Fprintf(e.stdout, "domain alias %s → %s added\n", n, *aliasOf)
		} else {
			fmt.Fprintf(e.stdout, "domain %s added\n", n)
		}
		return 0
	case "list":
		asJSON := c.fs.Bool("json", false, "print JSON")
		if !c.parse(args, 0, 0, "ebb domain list [--json]") {
			return diag.ExUsage
		}
		if code := c.open(); code != 0 {
			return code
		}
		defer c.close()
		ds, err := c.dir.Domains(e.ctx)
		if err != nil {
			return c.fail(err)
		}
		if *asJSON {
			if ds == nil {
				ds = []directory.Domain{}
			}
			writeJSON(e.stdout, ds)
			return 0
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DOMAIN\tMAILBOXES\tALIASES\tNOTE")
		for _, d := range ds {
			note := ""
			if d.AliasOf != "" {
				note = "alias of " + d.AliasOf
			}
			if d.Unicode != "" {
				note = d.Unicode + " " + note
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", d.Name, d.Mailboxes, d.Aliases, note)
		}
		tw.Flush()
		return 0
	case "remove":
		force := c.fs.Bool("force", false, "remove the domain even though it has mailboxes (their mail stays on disk)")
		deleteMail := c.fs.Bool("delete-mail", false, "also delete the Maildirs of the removed mailboxes")
		if !c.parse(args, 1, 1, "ebb domain remove NAME [--force] [--delete-mail]") {
			return diag.ExUsage
		}
		if code := c.open(); code != 0 {
			return code
		}
		defer c.close()
		res, err := c.dir.RemoveDomain(e.ctx, c.args[0], *force)
		if err != nil {
			return c.fail(err)
		}
		for _, d := range res.Domains {
			fmt.Fprintf(e.stdout, "domain %s removed\n", d)
		}
		fmt.Fprintf(e.stdout, "%d mailboxes and %d alias destinations removed from the directory\n", len(res.Mailboxes), res.Aliases)
		return removeMail(c, res.Mailboxes, *deleteMail)
	}
	fmt.Fprintf(e.stderr, "ebb domain: unknown subcommand %q\nusage: %s\n", sub, usage)
	return diag.ExUsage
}

// removeMail deletes the Maildirs of removed mailboxes when asked, and
// otherwise says where their mail stays.
func removeMail(c *adminCmd, mbs []*directory.Mailbox, del bool) int {
	code := 0
	for _, mb := range mbs {
		path, err := mailboxMaildir(c, mb)
		if err != nil {
			fmt.Fprintf(c.e.stderr, "%s: %s: %v\n", c.name, mb.Address, err)
			code = diag.ExDataErr
			continue
		}
		if !del {
			fmt.Fprintf(c.e.stdout, "mail of %s kept in %s\n", mb.Address, path)
			continue
		}
		if err := os.RemoveAll(path); err != nil {
			d := diag.PathError(c.name, "remove", "remove the Maildir", path, err, nil)
			fmt.Fprintln(c.e.stderr, d.Sentence())
			code = d.ExitCode()
			continue
		}
		fmt.Fprintf(c.e.stdout, "mail of %s deleted: %s\n", mb.Address, path)
	}
	return code
}
