package main

import (
	"fmt"

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
		fmt.Fprintln(c.Stdout, cli.Version(version, commit))
		return 0
	}}
