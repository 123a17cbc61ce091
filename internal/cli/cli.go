// Package cli is what every ebb command shares, so that each of them only
// declares its flags and calls the package that does the work: the command
// table and its help (ebb help CMD, ebb CMD --help, -h), flags that may
// stand before, between or after the arguments (long options shown as
// --name), loading the config, the password prompt, and one error printer
// with sysexits codes.
//
//	var user = &cli.Command{Name: "user", Summary: "mailboxes", Sub: []*cli.Command{
//		{Name: "add", Args: "ADDRESS", Summary: "add a mailbox", Run: userAdd},
//	}}
//
//	func userAdd(c *cli.Call) int {
//		quota := c.Flags.Int64("quota", 0, "quota in bytes")
//		if code, ok := c.Parse(1, 1); !ok {
//			return code // --help: 0; a bad command line: 64, said on stderr
//		}
//		if err := do(c.Args[0], *quota); err != nil {
//			return c.Fail(err) // one line on stderr; a *diag.Error's own code
//		}
//		return 0
//	}
package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ebbmail/ebb/internal/diag"
)

// Env is what a command gets besides its arguments: the context and the
// standard streams. Tests run commands in-process with streams of their own.
type Env struct {
	Ctx    context.Context
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Command is one entry of the command table: either a group of
// subcommands (Sub) or a command that runs (Run).
type Command struct {
	Name string
	// Args is the synopsis of the arguments after the name, e.g.
	// "ADDRESS DESTINATION...". The options follow from the flags.
	Args string
	// Summary is one line: what the command is for.
	Summary string
	// Help is more text for the command's --help (optional).
	Help string
	// NoConfig: the command reads no config, so it has no -c FILE.
	NoConfig bool
	// RawArgs: the command parses its arguments itself (sendmail's
	// command line): Call.Args are the arguments as given, no -c FILE.
	RawArgs bool
	Run     func(c *Call) int
	Sub     []*Command
}

// Find is the subcommand named name, or nil.
func (cmd *Command) Find(name string) *Command {
	for _, s := range cmd.Sub {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

// Dispatch runs cmd (called name, e.g. "ebb user") with args: a group
// picks its subcommand from args[0]; "help SUB..." is "SUB... --help".
func Dispatch(env *Env, cmd *Command, name string, args []string) int {
	if cmd.Run != nil {
		c := newCall(env, cmd, name, args)
		if cmd.RawArgs {
			c.Args = args
		}
		return cmd.Run(c)
	}
	if len(args) == 0 {
		groupUsage(env.Stderr, cmd, name)
		return diag.ExUsage
	}
	if isHelp(args[0]) {
		if args[0] == "help" && len(args) > 1 {
			// ebb help user add: the help of user add.
			return Dispatch(env, cmd, name, append(slices.Clone(args[1:]), "--help"))
		}
		groupUsage(env.Stdout, cmd, name)
		return 0
	}
	sub := cmd.Find(args[0])
	if sub == nil {
		fmt.Fprintf(env.Stderr, "%s: unknown %s %q\n", name, kind(name), args[0])
		groupUsage(env.Stderr, cmd, name)
		return diag.ExUsage
	}
	return Dispatch(env, sub, name+" "+sub.Name, args[1:])
}

func kind(name string) string {
	if strings.Contains(name, " ") {
		return "subcommand"
	}
	return "command"
}

// groupUsage lists the subcommands of cmd.
func groupUsage(w io.Writer, cmd *Command, name string) {
	if cmd.Summary != "" && strings.Contains(name, " ") {
		fmt.Fprintf(w, "%s: %s\n\n", name, cmd.Summary)
	}
	fmt.Fprintf(w, "usage: %s %s [options]\n", name, strings.ToUpper(kind(name)))
	if cmd.Help != "" {
		fmt.Fprintf(w, "%s\n", strings.TrimRight(cmd.Help, "\n"))
	}
	fmt.Fprintf(w, "\n%ss:\n", kind(name))
	width := 0
	for _, s := range cmd.Sub {
		width = max(width, len(s.Name))
	}
	for _, s := range cmd.Sub {
		fmt.Fprintf(w, "  %-*s  %s\n", width, s.Name, s.Summary)
	}
	fmt.Fprintf(w, "\n%s help %s (or %s %s --help) tells more about each.\n", name, strings.ToUpper(kind(name)), name, strings.ToUpper(kind(name)))
}

// Walk calls fn for cmd and every command below it, with its full name.
func Walk(cmd *Command, name string, fn func(c *Command, name string)) {
	fn(cmd, name)
	for _, s := range cmd.Sub {
		Walk(s, name+" "+s.Name, fn)
	}
}
