package main

import (
	"fmt"
	"os"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
)

// runImport is `ebb import dovecot-passwd FILE | csv FILE`: mailboxes from
// the old stack, in one transaction. Bad lines are reported with their
// numbers and skipped; --dry-run shows what would change and changes nothing.
func runImport(e *env) int {
	usage := "ebb import dovecot-passwd FILE [--domain DOMAIN] [--dry-run] [--json]\n" +
		"       ebb import csv FILE [--dry-run] [--json]   (address,password,quota,quota_messages,enabled,maildir)"
	if len(e.args) == 0 {
		fmt.Fprintln(e.stderr, "usage: "+usage)
		return diag.ExUsage
	}
	sub, args := e.args[0], e.args[1:]
	c := newAdminCmd(e, "ebb import "+sub)
	dry := c.fs.Bool("dry-run", false, "show what would change, change nothing")
	asJSON := c.fs.Bool("json", false, "print the result as JSON")
	domain := ""
	if sub == "dovecot-passwd" {
		c.fs.StringVar(&domain, "domain", "", "domain for users written without @domain")
	} else if sub != "csv" {
		fmt.Fprintf(e.stderr, "ebb import: unknown format %q\nusage: %s\n", sub, usage)
		return diag.ExUsage
	}
	if !c.parse(args, 1, 1, usage) {
		return diag.ExUsage
	}
	f, err := os.Open(c.args[0])
	if err != nil {
		d := diag.PathError(c.name, "open", "read the import file", c.args[0], err, nil)
		d.Class, d.Exit = diag.Permanent, diag.ExNoInput
		fmt.Fprintln(e.stderr, d.Sentence())
		return d.ExitCode()
	}
	defer f.Close()
	if code := c.open(); code != 0 {
		return code
	}
	defer c.close()
	var plan *directory.ImportPlan
	if sub == "csv" {
		plan, err = c.dir.ParseCSV(f)
	} else {
		plan, err = c.dir.ParseDovecotPasswd(f, domain)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "%s: %s: %v\n", c.name, c.args[0], err)
		return diag.ExDataErr
	}
	res, err := c.dir.Import(e.ctx, plan, *dry)
	if err != nil {
		return c.fail(err)
	}
	if *asJSON {
		if res.Bad == nil {
			res.Bad = []directory.BadLine{}
		}
		writeJSON(e.stdout, res)
	} else {
		verb := "imported"
		if *dry {
			verb = "would import (dry run, nothing changed)"
		}
		for _, ch := range res.Changes {
			fmt.Fprintln(e.stdout, ch)
		}
		fmt.Fprintf(e.stdout, "%s: %d domains added, %d mailboxes added, %d updated, %d lines skipped\n",
			verb, len(res.AddedDomains), res.AddedMailboxes, res.UpdatedMailboxes, len(res.Bad))
	}
	for _, b := range res.Bad {
		fmt.Fprintf(e.stderr, "%s:%d: skipped: %s\n", c.args[0], b.Line, b.Reason)
	}
	if len(res.Bad) > 0 {
		return diag.ExDataErr
	}
	return 0
}
