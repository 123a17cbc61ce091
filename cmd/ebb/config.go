package main

import (
	"fmt"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
)

var configCmd = &cli.Command{Name: "config", Summary: "print the defaults, or validate the configuration", Sub: []*cli.Command{
	{Name: "defaults", NoConfig: true, Summary: "every key with its default and what it does (a reference; the package's conffile is what runs)",
		Do: func(c *cli.Call) cli.Action {
			return func(*config.Config) error {
				config.WriteDefaults(c.Stdout)
				return nil
			}
		}},
	{Name: "init", Args: "[FILE]", NoConfig: true, Summary: "write a starting config (every key at its default) to FILE, default " + config.DefaultPath + "; never over one that is there",
		Do: func(c *cli.Call) cli.Action {
			return func(*config.Config) error {
				path := config.DefaultPath
				if len(c.Args) == 1 {
					path = c.Args[0]
				}
				if err := config.WriteNew(path); err != nil {
					return err
				}
				fmt.Fprintf(c.Stdout, "%s: written, every key at its default\n", path)
				return nil
			}
		}},
	{Name: "check", Summary: "validate the config file: unknown keys and bad values, each with file:line",
		Do: func(c *cli.Call) cli.Action {
			return func(cfg *config.Config) error {
				file := cfg.File
				if file == "" {
					file = config.DefaultPath + " (absent: all defaults)"
				}
				fmt.Fprintf(c.Stdout, "%s: ok\n", file)
				return nil
			}
		}},
}}
