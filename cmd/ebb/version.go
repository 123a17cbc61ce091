package main

import (
	"fmt"
	"runtime/debug"

	"github.com/ebbmail/ebb/internal/cli"
)

// version and commit are set by the package build (packaging/build-deb.sh
// passes -X main.version=<packaging/VERSION> -X main.commit=<git HEAD>);
// other builds take them from the build info (go build in a git checkout
// records the commit), or say "devel".
var version, commit = "", ""

var versionCmd = &cli.Command{Name: "version", NoConfig: true,
	Summary: "the version of ebb, the commit it was built from, and the Go version (also ebb --version)",
	Run: func(c *cli.Call) int {
		if code, ok := c.Parse(0, 0); !ok {
			return code
		}
		fmt.Fprintln(c.Stdout, versionLine(version, commit))
		return 0
	}}

// versionLine is "ebb 0.1.0 (commit 1a2b3c4d5e6f, modified; go1.26.8)".
func versionLine(v, rev string) string {
	info, ok := debug.ReadBuildInfo()
	if v == "" && ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	if v == "" {
		v = "devel"
	}
	modified, goVersion := false, "unknown"
	if ok {
		goVersion = info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if rev == "" {
		rev = "unknown"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified {
		rev += ", modified"
	}
	return fmt.Sprintf("ebb %s (commit %s; %s)", v, rev, goVersion)
}
