package main

import (
	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/daemon"
)

// ebb serve: internal/daemon assembles and runs the daemon.
var serveCmd = &cli.Command{Name: "serve", Summary: "the daemon: inbound SMTP, the queue, local delivery, metrics (serve --demo: a demo in ./ebb-demo)",
	Run: func(c *cli.Call) int {
		demo := c.Flags.Bool("demo", false, "run the demo: data under ./ebb-demo, SMTP on 127.0.0.1:2525, domain example.test, user demo@example.test")
		demoDir := c.Flags.String("demo-dir", "ebb-demo", "where --demo keeps its config and data (`DIR`)")
		demoListen := c.Flags.String("demo-listen", "", "with --demo: the SMTP `ADDRESS` instead of the config's (127.0.0.1:2525), when that port is taken")
		if code, ok := c.Parse(0, 0); !ok {
			return code
		}
		return daemon.Run(c.Ctx, daemon.Options{ConfigPath: c.ConfigPath, Demo: *demo, DemoDir: *demoDir, DemoListen: *demoListen,
			Stdout: c.Stdout, Stderr: c.Stderr})
	}}
