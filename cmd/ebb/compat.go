package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"strings"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/mailuser"
)

// The helpers below are what fetch.go and sendmail_smtp.go still use from
// before internal/cli; they go when those files move onto cli.Call (their
// logic into internal/fetch and internal/smtpd, by their owners).

type env struct {
	ctx    context.Context
	args   []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	call   *cli.Call
	helped bool // a subcommand printed its help: exit 0
}

// legacy runs an old-style command as the subcommand sub of c's group.
func legacy(run func(e *env) int, sub string) func(c *cli.Call) int {
	return func(c *cli.Call) int {
		e := &env{ctx: c.Ctx, args: append([]string{sub}, c.Args...), stdin: c.Stdin, stdout: c.Stdout, stderr: c.Stderr, call: c}
		code := run(e)
		if e.helped {
			return 0
		}
		return code
	}
}

type adminCmd struct {
	e    *env
	name string
	fs   *flag.FlagSet
	cfg  string
	args []string
	dir  *directory.Directory
	conf *config.Config
	call *cli.Call
}

func newAdminCmd(e *env, name string) *adminCmd {
	c := &adminCmd{e: e, name: name, call: &cli.Call{Env: e.call.Env, Cmd: e.call.Cmd, Name: name}}
	c.call.Flags = flag.NewFlagSet(name, flag.ContinueOnError)
	c.call.Flags.SetOutput(io.Discard)
	c.fs = c.call.Flags
	c.fs.StringVar(&c.cfg, "c", "", "the config `FILE` (default "+config.DefaultPath+")")
	return c
}

func (c *adminCmd) parse(args []string, min, max int, usage string) bool {
	c.call.Argv = args
	c.call.Cmd = &cli.Command{Name: c.name, Summary: c.call.Cmd.Summary, Args: strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(usage, c.name)), " [options]")}
	code, ok := c.call.Parse(min, max)
	c.args = c.call.Args
	if !ok && code == 0 {
		c.e.helped = true
	}
	return ok
}

func (c *adminCmd) open() int {
	c.call.ConfigPath = c.cfg
	cfg, code := c.call.Config()
	if cfg == nil {
		return code
	}
	c.conf = cfg
	owner, err := mailuser.ForRoot(cfg)
	if err != nil {
		return c.fail(err)
	}
	d, err := directory.OpenWith(c.e.ctx, cfg, directory.Options{Owner: owner})
	if err != nil {
		return c.fail(err)
	}
	c.dir = d
	return 0
}

func (c *adminCmd) close() {
	if c.dir != nil {
		if err := c.dir.Close(); err != nil {
			c.fail(err)
		}
	}
}

func (c *adminCmd) fail(err error) int {
	if d, ok := diag.As(err); ok {
		d.Component = c.name
	}
	return c.call.Fail(err)
}

func readPassword(e *env, prompt string, confirm bool) (string, error) {
	return e.call.ReadPassword(prompt, confirm)
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
