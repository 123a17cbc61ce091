// Package cli is what every ebb command shares, so that each of them only
// declares its flags and calls the package that does the work: the command
// table and its help (ebb help CMD, ebb CMD --help, -h), flags that may
// stand before, between or after the arguments (long options shown as
// --name), the arguments counted by the synopsis, loading the config, the
// password prompt, and one error printer with sysexits codes.
//
//	var user = &cli.Command{Name: "user", Summary: "mailboxes", Sub: []*cli.Command{
//		{Name: "add", Args: "ADDRESS", Summary: "add a mailbox", Do: userAdd},
//	}}
//
//	func userAdd(c *cli.Call) cli.Action {
//		quota := c.Flags.Int64("quota", 0, "quota in bytes")
//		// Dispatch parses the command line (--help: exit 0; a bad one:
//		// 64, said on stderr), loads the config, then runs this:
//		return func(cfg *config.Config) error {
//			return do(cfg, c.Args[0], *quota) // Fail tells an error
//		}
//	}
package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ebbmail/ebb/internal/config"
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
	// JSON: the command takes --json ("print JSON"), Call.AsJSON.
	JSON bool
	// Do declares the command's flags on c.Flags and returns what it
	// does once Dispatch has parsed its command line (as many arguments
	// as Args names) and loaded its config (nil with NoConfig). A
	// command that parses or loads the config itself (sendmail's command
	// line, one that hands -c FILE on) has Run instead.
	Do  func(c *Call) Action
	Run func(c *Call) int
	Sub []*Command
}

// Action is what a command does after its command line and config. Its
// error ends the command through Call.Fail: said on stderr, with its exit
// code (Exit ends it with a code, saying nothing); nil is exit 0.
type Action func(cfg *config.Config) error

// arity is how many arguments a synopsis takes: "ADDRESS DESTINATION..."
// at least two, "[DOMAIN]" one at most, "NAME [UID...]" one or more (max
// < 0: no limit). A word starting with "-" is a flag, and the word after
// it the flag's value: "--to ADDR... [FILE]" takes one argument at most.
func arity(synopsis string) (min, max int) {
	words := strings.Fields(synopsis)
	for i := 0; i < len(words); i++ {
		w := words[i]
		if strings.HasPrefix(w, "-") {
			i++
			continue
		}
		if !strings.HasPrefix(w, "[") {
			min++
		}
		if strings.Contains(w, "...") {
			max = -1
		} else if max >= 0 {
			max++
		}
	}
	return min, max
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
	if cmd.Do != nil {
		c := newCall(env, cmd, name, args)
		act := cmd.Do(c)
		if code, ok := c.Parse(arity(cmd.Args)); !ok {
			return code
		}
		var cfg *config.Config
		if !cmd.NoConfig {
			var code int
			if cfg, code = c.Config(); cfg == nil {
				return code
			}
		}
		return c.End(act(cfg))
	}
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
