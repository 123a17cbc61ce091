package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/doctor"
	"github.com/ebbmail/ebb/internal/mailuser"
)

// runDoctor probes every path and service the config implies. Exit 0 when
// nothing failed, 1 otherwise.
//
// `ebb doctor --probe` is the hidden child side: the parent, running as
// root, re-executes ebb with server.user's uid/gid to run the filesystem
// probes as that user (requests and results as JSON on stdin/stdout).
func runDoctor(e *env) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfgPath := fs.String("c", "", "config file (default /etc/ebb/ebb.toml)")
	asJSON := fs.Bool("json", false, "print the findings as JSON")
	probe := fs.Bool("probe", false, "(internal) run probes read from stdin as this user")
	if err := fs.Parse(e.args); err != nil {
		return diag.ExUsage
	}
	if *probe {
		if err := doctor.ServeProbes(e.stdin, e.stdout); err != nil {
			fmt.Fprintln(e.stderr, "ebb doctor --probe:", err)
			return 1
		}
		return 0
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return 1
	}
	prober := &doctor.Prober{}
	if os.Geteuid() == 0 {
		if u, err := mailuser.Lookup(cfg); err == nil && u.UID != 0 {
			prober.As = &doctor.ProbeUser{Name: cfg.Server.User, UID: u.UID, GID: u.GID}
		} else if err != nil {
			// No such user: still probe every path, as an unprivileged
			// stand-in, and say so on every result (doctor.StandIn).
			prober.As = doctor.StandIn(cfg.Server.User)
		}
	}
	denv := &doctor.Env{Cfg: cfg, Probe: prober}
	findings := doctor.Run(e.ctx, denv, doctor.Checks())
	if *asJSON {
		doctor.WriteJSON(e.stdout, findings)
	} else {
		doctor.WriteText(e.stdout, findings)
	}
	if doctor.AnyFailed(findings) {
		return 1
	}
	return 0
}
