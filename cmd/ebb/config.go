package main

import (
	"fmt"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
)

var configCmd = &cli.Command{Name: "config", Summary: "print the defaults, or validate the configuration", Sub: []*cli.Command{
	{Name: "defaults", NoConfig: true, Summary: "every key with its default and what it does (a reference; the package's conffile is what runs)",
		Run: func(c *cli.Call) int {
			if code, ok := c.Parse(0, 0); !ok {
				return code
			}
			config.WriteDefaults(c.Stdout)
			return 0
		}},
	{Name: "init", Args: "[FILE]", NoConfig: true, Summary: "write a starting config (every key at its default) to FILE, default " + config.DefaultPath + "; never over one that is there",
		Run: func(c *cli.Call) int {
			if code, ok := c.Parse(0, 1); !ok {
				return code
			}
			path := config.DefaultPath
			if len(c.Args) == 1 {
				path = c.Args[0]
			}
			if err := config.WriteNew(path); err != nil {
				return c.Fail(err)
			}
			fmt.Fprintf(c.Stdout, "%s: written, every key at its default\n", path)
			return 0
		}},
	{Name: "check", Summary: "validate the config file: unknown keys and bad values, each with file:line",
		Run: func(c *cli.Call) int {
			cfg, code := c.ParseConfig(0, 0)
			if cfg == nil {
				return code
			}
			file := cfg.File
			if file == "" {
				file = config.DefaultPath + " (absent: all defaults)"
			}
			fmt.Fprintf(c.Stdout, "%s: ok\n", file)
			return 0
		}},
}}
