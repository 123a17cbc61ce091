package main

import (
	"flag"
	"fmt"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

func runConfig(e *env) int {
	if len(e.args) == 0 {
		fmt.Fprintln(e.stderr, "usage: ebb config defaults | ebb config check [-c FILE]")
		return diag.ExUsage
	}
	switch e.args[0] {
	case "defaults":
		config.WriteDefaults(e.stdout)
		return 0
	case "check":
		fs := flag.NewFlagSet("config check", flag.ContinueOnError)
		fs.SetOutput(e.stderr)
		path := fs.String("c", "", "config file (default "+config.DefaultPath+")")
		if err := fs.Parse(e.args[1:]); err != nil {
			return diag.ExUsage
		}
		c, err := loadConfig(e, *path)
		if err != nil {
			return diag.ExConfig
		}
		file := c.File
		if file == "" {
			file = config.DefaultPath + " (absent: all defaults)"
		}
		fmt.Fprintf(e.stdout, "%s: ok\n", file)
		return 0
	}
	fmt.Fprintf(e.stderr, "ebb config: unknown subcommand %q\n", e.args[0])
	return diag.ExUsage
}

// loadConfig loads the config and prints any problem on stderr.
func loadConfig(e *env, path string) (*config.Config, error) {
	c, err := config.Load(path)
	if err != nil {
		if d, ok := diag.As(err); ok {
			fmt.Fprintln(e.stderr, d.Sentence())
		} else {
			fmt.Fprintln(e.stderr, err)
		}
		return nil, err
	}
	return c, nil
}
