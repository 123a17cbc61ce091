package main

import (
	"flag"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/daemon"
	"github.com/ebbmail/ebb/internal/diag"
)

// runServe is `ebb serve`: it parses the flags; internal/daemon assembles
// and runs the daemon.
func runServe(e *env) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	path := fs.String("c", "", "config file (default "+config.DefaultPath+")")
	demo := fs.Bool("demo", false, "run the demo: data under ./ebb-demo, SMTP on 127.0.0.1:2525, domain example.test, user demo@example.test")
	demoDir := fs.String("demo-dir", "ebb-demo", "where --demo keeps its config and data")
	demoListen := fs.String("demo-listen", "", "with --demo: the SMTP address instead of the config's (127.0.0.1:2525), when that port is taken")
	if err := fs.Parse(e.args); err != nil {
		return diag.ExUsage
	}
	return daemon.Run(e.ctx, daemon.Options{ConfigPath: *path, Demo: *demo, DemoDir: *demoDir, DemoListen: *demoListen,
		Stdout: e.stdout, Stderr: e.stderr})
}
