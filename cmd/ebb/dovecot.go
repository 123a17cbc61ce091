package main

import (
	"fmt"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dovecotconf"
)

// ebb dovecot: the Dovecot 2.3 configuration that serves ebb's users over
// IMAP and ManageSieve (docs/dovecot.md).
var dovecotCmd = &cli.Command{Name: "dovecot", Summary: "the Dovecot 2.3 configuration that serves ebb's users over IMAP and ManageSieve", Sub: []*cli.Command{
	{Name: "config", Summary: "the conf.d snippet (passdb, userdb, mail, quota, sieve)", Do: runDovecot},
	{Name: "sql", Summary: "the SQL file it names (queries on ebb's directory)", Do: runDovecot},
}}

func runDovecot(c *cli.Call) cli.Action {
	sqlConf := c.Flags.String("sql-conf", dovecotconf.DefaultSQLConf, "where the SQL file from `ebb dovecot sql` is installed")
	return func(cfg *config.Config) error {
		o, note := dovecotconf.ForUser(cfg, *sqlConf)
		if note != "" {
			fmt.Fprintf(c.Stderr, "%s: %s\n", c.Name, note)
		}
		f, err := dovecotconf.Generate(cfg, o)
		switch {
		case err != nil:
			return cli.Errorf(diag.ExConfig, "%v", err)
		case c.Cmd.Name == "sql":
			fmt.Fprint(c.Stdout, f.SQL)
		default:
			fmt.Fprint(c.Stdout, f.Conf)
		}
		return nil
	}
}
