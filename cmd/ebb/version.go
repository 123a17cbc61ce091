package main

import (
	"fmt"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
)

// version and commit are set by the package build (packaging/build-deb.sh
// passes -X main.version=<packaging/VERSION> -X main.commit=<git HEAD>);
// other builds take them from the build info (go build in a git checkout
// records the commit), or say "devel".
var version, commit = "", ""

var versionCmd = &cli.Command{Name: "version", NoConfig: true,
	Summary: "the version of ebb, the commit it was built from, and the Go version (also ebb --version)",
	Do: func(c *cli.Call) cli.Action {
		return func(*config.Config) error {
			fmt.Fprintln(c.Stdout, cli.Version(version, commit))
			return nil
		}
	}}
