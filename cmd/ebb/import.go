package main

import (
	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
)

// ebb import: mailboxes from the old stack, in one transaction. Bad lines
// are reported with their numbers and skipped; --dry-run shows what would
// change and changes nothing.
var importCmd = &cli.Command{Name: "import", Summary: "mailboxes from the old stack, in one transaction", Sub: []*cli.Command{
	{Name: directory.ImportDovecotPasswd, Args: "FILE", Summary: "a Dovecot passwd-file (user:{SCHEME}hash:...)", Do: runImport},
	{Name: directory.ImportCSV, Args: "FILE", Summary: "CSV: address,password,quota,quota_messages,enabled,maildir", Do: runImport},
}}

func runImport(c *cli.Call) cli.Action {
	dry := c.Flags.Bool("dry-run", false, "show what would change, change nothing")
	asJSON := c.Flags.Bool("json", false, "print the result as JSON")
	domain := ""
	if c.Cmd.Name == directory.ImportDovecotPasswd {
		c.Flags.StringVar(&domain, "domain", "", "`DOMAIN` for users written without @domain")
	}
	return func(cfg *config.Config) error {
		file := c.Args[0]
		f, err := directory.OpenImportFile(file)
		if err != nil {
			return err
		}
		defer f.Close()
		return openDirectory(c, cfg, directory.Options{}, func(d *directory.Directory, _ *config.Config) error {
			res, err := d.ImportFile(c.Ctx, c.Cmd.Name, f, file, domain, *dry)
			if err != nil {
				return err
			}
			if *asJSON {
				res.WriteJSON(c.Stdout)
			} else {
				res.WriteText(c.Stdout)
			}
			res.WriteBad(c.Stderr, file)
			if len(res.Bad) > 0 {
				return cli.Exit(diag.ExDataErr)
			}
			return nil
		})
	}
}
