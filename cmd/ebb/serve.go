package main

import (
	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/daemon"
)

// ebb serve: internal/daemon assembles and runs the daemon.
var serveCmd = &cli.Command{Name: "serve", Summary: "the daemon: inbound SMTP, the queue, local delivery, metrics (serve --demo: a demo in ./ebb-demo)",
	Run: func(c *cli.Call) int {
		o := daemon.Options{Stdout: c.Stdout, Stderr: c.Stderr}
		c.Flags.BoolVar(&o.Demo, "demo", false, "run the demo: data under ./ebb-demo, SMTP on 127.0.0.1:2525, domain example.test, user demo@example.test")
		c.Flags.StringVar(&o.DemoDir, "demo-dir", "ebb-demo", "where --demo keeps its config and data (`DIR`)")
		c.Flags.StringVar(&o.DemoListen, "demo-listen", "", "with --demo: the SMTP `ADDRESS` instead of the config's (127.0.0.1:2525), when that port is taken")
		if code, ok := c.Parse(0, 0); !ok {
			return code
		}
		o.ConfigPath = c.ConfigPath
		return daemon.Run(c.Ctx, o)
	}}
