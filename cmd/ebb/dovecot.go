package main

import (
	"flag"
	"fmt"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dovecotconf"
	"github.com/ebbmail/ebb/internal/mailuser"
)

// runDovecot is `ebb dovecot config | sql`: the Dovecot 2.3 configuration
// that serves ebb's users over IMAP and ManageSieve (docs/dovecot.md).
func runDovecot(e *env) int {
	usage := "ebb dovecot config [-c FILE] [--sql-conf PATH]   the conf.d snippet (passdb, userdb, mail, quota, sieve)\n" +
		"       ebb dovecot sql [-c FILE]                      the SQL file it names (queries on ebb's directory)"
	if len(e.args) == 0 || (e.args[0] != "config" && e.args[0] != "sql") {
		fmt.Fprintln(e.stderr, "usage: "+usage)
		return diag.ExUsage
	}
	sub := e.args[0]
	fs := flag.NewFlagSet("ebb dovecot "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfgPath := fs.String("c", "", "config file")
	sqlConf := fs.String("sql-conf", dovecotconf.DefaultSQLConf, "where the SQL file from `ebb dovecot sql` is installed")
	if err := fs.Parse(e.args[1:]); err != nil || fs.NArg() != 0 {
		fmt.Fprintln(e.stderr, "usage: "+usage)
		return diag.ExUsage
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return diag.ExConfig
	}
	o := dovecotconf.Options{SQLConf: *sqlConf, UID: -1, GID: -1}
	if u, err := mailuser.Lookup(cfg); err == nil {
		o.UID, o.GID = u.UID, u.GID
	} else {
		fmt.Fprintf(e.stderr, "ebb dovecot %s: server.user %q does not exist yet; the snippet names it and Dovecot resolves it at start (create it: adduser --system --group %s)\n",
			sub, cfg.Server.User, cfg.Server.User)
	}
	f, err := dovecotconf.Generate(cfg, o)
	if err != nil {
		fmt.Fprintf(e.stderr, "ebb dovecot %s: %v\n", sub, err)
		return diag.ExConfig
	}
	if sub == "sql" {
		fmt.Fprint(e.stdout, f.SQL)
	} else {
		fmt.Fprint(e.stdout, f.Conf)
	}
	return 0
}
