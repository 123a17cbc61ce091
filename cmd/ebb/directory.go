package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/mailuser"
)

// adminCmd is what the directory administration commands (domain, user,
// alias, import, directory) share: flags that may come before or after the
// arguments, the config, the open directory, and error reporting.
type adminCmd struct {
	e    *env
	name string // "ebb user add"
	fs   *flag.FlagSet
	cfg  string
	args []string
	dir  *directory.Directory
	conf *config.Config
}

func newAdminCmd(e *env, name string) *adminCmd {
	c := &adminCmd{e: e, name: name, fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	c.fs.SetOutput(e.stderr)
	c.fs.StringVar(&c.cfg, "c", "", "config file (default "+config.DefaultPath+")")
	return c
}

// parse parses flags mixed with positional arguments (ebb user add ADDR
// --quota 1G as well as --quota 1G ADDR). It reports false after printing
// the problem.
func (c *adminCmd) parse(args []string, min, max int, usage string) bool {
	c.fs.Usage = func() {
		fmt.Fprintf(c.e.stderr, "usage: %s\n", usage)
		c.fs.PrintDefaults()
	}
	for {
		if err := c.fs.Parse(args); err != nil {
			return false
		}
		args = c.fs.Args()
		if len(args) == 0 {
			break
		}
		c.args = append(c.args, args[0])
		args = args[1:]
	}
	if len(c.args) < min || (max >= 0 && len(c.args) > max) {
		fmt.Fprintf(c.e.stderr, "usage: %s\n", usage)
		return false
	}
	return true
}

// open loads the config and opens (and migrates) the directory.
func (c *adminCmd) open() int {
	cfg, err := loadConfig(c.e, c.cfg)
	if err != nil {
		return diag.ExConfig
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

// close closes the directory; files SQLite left beside the database go to
// the mail user too (admin_owner.go).
func (c *adminCmd) close() {
	if c.dir != nil {
		if err := c.dir.Close(); err != nil {
			c.fail(err)
		}
	}
}

// fail prints err as one line and returns the exit code: a *diag.Error
// speaks for itself; admin mistakes get sysexits codes.
func (c *adminCmd) fail(err error) int {
	if d, ok := diag.As(err); ok {
		d.Component = c.name
		fmt.Fprintln(c.e.stderr, d.Sentence())
		return d.ExitCode()
	}
	fmt.Fprintf(c.e.stderr, "%s: %v\n", c.name, err)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return diag.ExNoUser
	case errors.Is(err, directory.ErrNotHosted):
		return diag.ExNoHost
	case errors.Is(err, directory.ErrExists), errors.Is(err, directory.ErrHasMailboxes):
		return diag.ExCantCreat
	case errors.Is(err, directory.ErrAuthFailed):
		return diag.ExNoPerm
	}
	return diag.ExDataErr
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// readPassword reads a password: from a prompt with echo off when stdin is a
// terminal (twice when confirm), else the first line of stdin. Never argv:
// command lines are visible to every user in ps.
func readPassword(e *env, prompt string, confirm bool) (string, error) {
	if f, ok := e.stdin.(*os.File); ok {
		if t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			read := func(p string) (string, error) {
				fmt.Fprint(e.stderr, p)
				quiet := *t
				quiet.Lflag &^= unix.ECHO
				quiet.Lflag |= unix.ICANON | unix.ECHONL
				if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, &quiet); err != nil {
					return "", err
				}
				defer unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
				line, err := bufio.NewReader(f).ReadString('\n')
				if err != nil && line == "" {
					return "", err
				}
				return strings.TrimRight(line, "\r\n"), nil
			}
			pw, err := read(prompt)
			if err != nil {
				return "", err
			}
			if confirm {
				again, err := read("again: ")
				if err != nil {
					return "", err
				}
				if again != pw {
					return "", errors.New("the two passwords differ")
				}
			}
			if pw == "" {
				return "", errors.New("empty password")
			}
			return pw, nil
		}
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on stdin (give it on stdin or at the prompt; never on the command line)")
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("empty password on stdin")
	}
	return pw, nil
}

// runDirectory is `ebb directory migrate | resolve ADDRESS`.
func runDirectory(e *env) int {
	usage := "ebb directory migrate | ebb directory resolve ADDRESS [--json]"
	if len(e.args) == 0 {
		fmt.Fprintln(e.stderr, "usage: "+usage)
		return diag.ExUsage
	}
	switch e.args[0] {
	case "migrate":
		c := newAdminCmd(e, "ebb directory migrate")
		if !c.parse(e.args[1:], 0, 0, "ebb directory migrate [-c FILE]") {
			return diag.ExUsage
		}
		cfg, err := loadConfig(e, c.cfg)
		if err != nil {
			return diag.ExConfig
		}
		owner, err := mailuser.ForRoot(cfg)
		if err != nil {
			return c.fail(err)
		}
		d, err := directory.OpenWith(e.ctx, cfg, directory.Options{NoMigrate: true, Owner: owner})
		if err != nil {
			return c.fail(err)
		}
		defer func() {
			if err := d.Close(); err != nil {
				c.fail(err)
			}
		}()
		from, to, err := d.Migrate(e.ctx)
		if err != nil {
			return c.fail(err)
		}
		if from == to {
			fmt.Fprintf(e.stdout, "%s: schema at version %d, up to date\n", d.Where(), to)
		} else {
			fmt.Fprintf(e.stdout, "%s: schema migrated from version %d to %d\n", d.Where(), from, to)
		}
		return 0
	case "resolve":
		c := newAdminCmd(e, "ebb directory resolve")
		asJSON := c.fs.Bool("json", false, "print JSON")
		if !c.parse(e.args[1:], 1, 1, "ebb directory resolve ADDRESS [--json]") {
			return diag.ExUsage
		}
		if code := c.open(); code != 0 {
			return code
		}
		defer c.close()
		return resolveCmd(e.ctx, c, c.args[0], *asJSON)
	}
	fmt.Fprintf(e.stderr, "ebb directory: unknown subcommand %q\nusage: %s\n", e.args[0], usage)
	return diag.ExUsage
}

func resolveCmd(ctx context.Context, c *adminCmd, address string, asJSON bool) int {
	r, err := c.dir.Resolve(ctx, address)
	if err != nil {
		return c.fail(err)
	}
	if asJSON {
		type mb struct {
			Address string `json:"address"`
			Enabled bool   `json:"enabled"`
			Maildir string `json:"maildir,omitempty"`
		}
		out := struct {
			Address   string   `json:"address"`
			Mailboxes []mb     `json:"mailboxes"`
			Forwards  []string `json:"forwards"`
			Detail    string   `json:"detail,omitempty"`
			Chain     []string `json:"chain"`
			Unknown   bool     `json:"unknown"`
		}{Address: r.Address, Mailboxes: []mb{}, Forwards: r.Forwards, Detail: r.Detail, Chain: r.Chain, Unknown: r.Unknown()}
		for _, m := range r.Mailboxes {
			out.Mailboxes = append(out.Mailboxes, mb{m.Address, m.Enabled, m.Maildir})
		}
		if out.Forwards == nil {
			out.Forwards = []string{}
		}
		writeJSON(c.e.stdout, out)
	} else {
		if r.Unknown() {
			fmt.Fprintf(c.e.stdout, "%s: unknown\n", r.Address)
		}
		for _, m := range r.Mailboxes {
			state := ""
			if !m.Enabled {
				state = " (disabled)"
			}
			fmt.Fprintf(c.e.stdout, "%s: mailbox %s%s\n", r.Address, m.Address, state)
		}
		for _, f := range r.Forwards {
			fmt.Fprintf(c.e.stdout, "%s: forward %s\n", r.Address, f)
		}
		if len(r.Chain) > 1 {
			fmt.Fprintf(c.e.stdout, "%s: addresses passed: %s\n", r.Address, strings.Join(r.Chain, ", "))
		}
	}
	if r.Unknown() {
		return diag.ExNoUser
	}
	return 0
}
