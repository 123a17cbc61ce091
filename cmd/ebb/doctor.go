package main

import (
	"fmt"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/doctor"
)

// ebb doctor probes every path and service the config implies. Exit 0
// when nothing failed, 1 otherwise.
//
// `ebb doctor --probe` is the hidden child side: the parent, running as
// root, re-executes ebb with server.user's uid/gid to run the filesystem
// probes as that user (requests and results as JSON on stdin/stdout).
var doctorCmd = &cli.Command{Name: "doctor", JSON: true, Summary: "probe every path and service the config implies, as the user that will use it",
	Run: func(c *cli.Call) int {
		probe := c.Flags.Bool("probe", false, "(internal) run probes read from stdin as this user")
		c.Hide("probe")
		if code, ok := c.Parse(0, 0); !ok {
			return code
		}
		if *probe {
			if err := doctor.ServeProbes(c.Stdin, c.Stdout); err != nil {
				fmt.Fprintln(c.Stderr, "ebb doctor --probe:", err)
				return 1
			}
			return 0
		}
		cfg, _ := c.Config()
		if cfg == nil {
			return 1
		}
		findings := doctor.Run(c.Ctx, &doctor.Env{Cfg: cfg, Probe: doctor.ProberFor(cfg)}, doctor.Checks())
		if c.AsJSON {
			doctor.WriteJSON(c.Stdout, findings)
		} else {
			doctor.WriteText(c.Stdout, findings)
		}
		if doctor.AnyFailed(findings) {
			return 1
		}
		return 0
	}}
