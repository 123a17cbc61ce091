package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
)

// runAlias is `ebb alias add|list|remove`. "@domain" is the catch-all.
func runAlias(e *env) int {
	usage := "ebb alias add ADDRESS DESTINATION... | list [DOMAIN] [--json] | remove ADDRESS [DESTINATION...]\n" +
		"  ADDRESS @example.com is the domain's catch-all; destinations may be local or remote."
	if len(e.args) == 0 {
		fmt.Fprintln(e.stderr, "usage: "+usage)
		return diag.ExUsage
	}
	sub, args := e.args[0], e.args[1:]
	c := newAdminCmd(e, "ebb alias "+sub)
	switch sub {
	case "add":
		if !c.parse(args, 2, -1, "ebb alias add ADDRESS DESTINATION...") {
			return diag.ExUsage
		}
		if code := c.open(); code != 0 {
			return code
		}
		defer c.close()
		if err := c.dir.AddAlias(e.ctx, c.args[0], c.args[1:]...); err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(e.stdout, "alias %s → %s added\n", c.args[0], strings.Join(c.args[1:], ", "))
		return 0
	case "list":
		asJSON := c.fs.Bool("json", false, "print JSON")
		if !c.parse(args, 0, 1, "ebb alias list [DOMAIN] [--json]") {
			return diag.ExUsage
		}
		if code := c.open(); code != 0 {
			return code
		}
		defer c.close()
		domain := ""
		if len(c.args) == 1 {
			domain = c.args[0]
		}
		as, err := c.dir.Aliases(e.ctx, domain)
		if err != nil {
			return c.fail(err)
		}
		if *asJSON {
			if as == nil {
				as = []directory.Alias{}
			}
			writeJSON(e.stdout, as)
			return 0
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ALIAS\tDESTINATIONS")
		for _, a := range as {
			name := a.Address
			if strings.HasPrefix(name, "@") {
				name += " (catch-all)"
			}
			fmt.Fprintf(tw, "%s\t%s\n", name, strings.Join(a.Destinations, ", "))
		}
		tw.Flush()
		return 0
	case "remove":
		if !c.parse(args, 1, -1, "ebb alias remove ADDRESS [DESTINATION...]") {
			return diag.ExUsage
		}
		if code := c.open(); code != 0 {
			return code
		}
		defer c.close()
		n, err := c.dir.RemoveAlias(e.ctx, c.args[0], c.args[1:]...)
		if err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(e.stdout, "alias %s: %d destinations removed\n", c.args[0], n)
		return 0
	}
	fmt.Fprintf(e.stderr, "ebb alias: unknown subcommand %q\nusage: %s\n", sub, usage)
	return diag.ExUsage
}
