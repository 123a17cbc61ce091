package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

// Call is one run of a command: its flags, and after Parse its arguments.
type Call struct {
	*Env
	Cmd *Command
	// Name is how the command is named in messages: "ebb user add".
	Name  string
	Flags *flag.FlagSet
	// Args are the arguments left after the flags (after Parse).
	Args []string
	// ConfigPath is -c FILE ("" for the default).
	ConfigPath string
	// Argv are the arguments as given, flags and all.
	Argv []string
	// AsJSON is --json: the result as JSON (Print). A command with JSON in
	// the table has the flag; another may bind it with words of its own.
	AsJSON bool

	hidden map[string]bool
}

func newCall(env *Env, cmd *Command, name string, args []string) *Call {
	c := &Call{Env: env, Cmd: cmd, Name: name, Argv: args, hidden: map[string]bool{}}
	c.Flags = flag.NewFlagSet(name, flag.ContinueOnError)
	c.Flags.SetOutput(io.Discard) // Parse says what went wrong
	c.Flags.Usage = func() {}
	if !cmd.NoConfig && !cmd.RawArgs {
		c.Flags.StringVar(&c.ConfigPath, "c", "", "the config `FILE` (default "+config.DefaultPath+")")
	}
	if cmd.JSON {
		c.Flags.BoolVar(&c.AsJSON, "json", false, "print JSON")
	}
	return c
}

// Hide keeps flags out of the help: internal ones (doctor's --probe) and
// old spellings kept for scripts.
func (c *Call) Hide(names ...string) {
	for _, n := range names {
		c.hidden[n] = true
	}
}

// Given reports whether the flag name was on the command line: a flag set
// to its default is not the same as one left out (--from "" is the null
// sender).
func (c *Call) Given(name string) bool {
	set := false
	c.Flags.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// Parse parses the flags, which may stand before, between or after the
// arguments (ebb user add ADDR --quota 1G as well as --quota 1G ADDR;
// after "--" everything is an argument), and checks that between min and
// max arguments are left (max < 0: no limit). -h and --help print the
// command's help on stdout. When the command should end here, ok is false
// and code is its exit code: 0 after the help, 64 after a bad command line
// (said on stderr).
func (c *Call) Parse(min, max int) (code int, ok bool) {
	args := c.Argv
	c.Args = nil
	for {
		err := c.Flags.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			c.PrintHelp(c.Stdout)
			return 0, false
		}
		if err != nil {
			return c.Usagef("%v", err), false
		}
		rest := c.Flags.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			c.Args = append(c.Args, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		c.Args = append(c.Args, rest[0])
		args = rest[1:]
	}
	if len(c.Args) < min || (max >= 0 && len(c.Args) > max) {
		return c.Usagef(""), false
	}
	return 0, true
}

// Usagef says what is wrong with the command line (nothing when format is
// empty) and how to call the command, on stderr, and returns 64.
func (c *Call) Usagef(format string, a ...any) int {
	if format != "" {
		fmt.Fprintf(c.Stderr, "%s: %s\n", c.Name, fmt.Sprintf(format, a...))
	}
	fmt.Fprintf(c.Stderr, "usage: %s\n(%s --help tells more)\n", c.synopsis(), c.Name)
	return diag.ExUsage
}

func (c *Call) synopsis() string {
	s := c.Name
	if c.hasOptions() {
		s += " [options]"
	}
	if c.Cmd.Args != "" {
		s += " " + c.Cmd.Args
	}
	return s
}

func (c *Call) hasOptions() bool {
	n := 0
	c.Flags.VisitAll(func(f *flag.Flag) {
		if !c.hidden[f.Name] {
			n++
		}
	})
	return n > 0
}

// PrintHelp writes the command's help: what it does, how to call it, and
// every option that is not hidden, long ones as --name.
func (c *Call) PrintHelp(w io.Writer) {
	if c.Cmd.Summary != "" {
		fmt.Fprintf(w, "%s: %s\n\n", c.Name, c.Cmd.Summary)
	}
	fmt.Fprintf(w, "usage: %s\n", c.synopsis())
	if c.Cmd.Help != "" {
		fmt.Fprintf(w, "%s\n", strings.TrimRight(c.Cmd.Help, "\n"))
	}
	if !c.hasOptions() {
		return
	}
	fmt.Fprintln(w, "\noptions:")
	var flags []*flag.Flag
	c.Flags.VisitAll(func(f *flag.Flag) {
		if !c.hidden[f.Name] {
			flags = append(flags, f)
		}
	})
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	for _, f := range flags {
		fmt.Fprintf(w, "  %s\n", optionLine(f))
	}
}

// optionLine is "--quota SIZE  quota in bytes (default 0)": the option as
// people type it (-c for a one-letter name, --name otherwise), its value
// (the `word` of the usage text, else its kind), the usage, the default.
func optionLine(f *flag.Flag) string {
	name, usage := flag.UnquoteUsage(f)
	dash := "--"
	if len(f.Name) == 1 {
		dash = "-"
	}
	s := dash + f.Name
	switch name {
	case "":
	case "string", "value":
		s += " VALUE"
	default:
		s += " " + strings.ToUpper(name)
	}
	s += "\n      " + usage
	if !isZeroValue(f) {
		s += fmt.Sprintf(" (default %s)", f.DefValue)
	}
	return s
}

// isZeroValue reports whether the flag's default is its type's zero value,
// which the help does not repeat (as the flag package decides).
func isZeroValue(f *flag.Flag) bool {
	switch f.DefValue {
	case "", "0", "false", "0s", "[]":
		return true
	}
	t := reflect.TypeOf(f.Value)
	var z reflect.Value
	if t.Kind() == reflect.Pointer {
		z = reflect.New(t.Elem())
	} else {
		z = reflect.Zero(t)
	}
	if v, ok := z.Interface().(flag.Value); ok {
		return f.DefValue == v.String()
	}
	return false
}

// Config loads the config file of -c (the default path without it). On
// failure it prints why, with file:line, and returns nil and 78.
func (c *Call) Config() (*config.Config, int) {
	cfg, err := config.Load(c.ConfigPath)
	if err != nil {
		if d, ok := diag.As(err); ok {
			fmt.Fprintln(c.Stderr, d.Sentence())
		} else {
			fmt.Fprintln(c.Stderr, err)
		}
		return nil, diag.ExConfig
	}
	return cfg, 0
}

// Exit is an error that ends a command with its code, after the command
// has said what went wrong (or had nothing to say): Fail prints nothing.
type Exit int

func (e Exit) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// codedError is an error with the exit code it ends a command with.
type codedError struct {
	error
	code int
}

func (e codedError) ExitCode() int { return e.code }
func (e codedError) Unwrap() error { return e.error }

// Errorf is an error that Fail prints as it is, and that ends the
// command with code.
func Errorf(code int, format string, a ...any) error {
	return codedError{fmt.Errorf(format, a...), code}
}

// ParseConfig is Parse and then Config, for the commands that read the
// config: the config, or nil and the exit code when the command ends here.
func (c *Call) ParseConfig(min, max int) (*config.Config, int) {
	if code, ok := c.Parse(min, max); !ok {
		return nil, code
	}
	return c.Config()
}

// exitCoder is an error that knows the sysexits code a command ends with:
// a *diag.Error, and the sentinel errors of the packages the commands call.
type exitCoder interface {
	error
	ExitCode() int
}

// Fail prints err as one line on stderr and returns the exit code the
// command ends with. A *diag.Error prints its sentence (what, where, why,
// who, the fix) and carries its code. Another error prints after the
// command's name and takes the code of the first error in its chain that
// has one; without one it is 65: the command got something it cannot use
// (a command whose plain errors are our own trouble wraps them with
// diag.From first, which makes them temporary). An Exit prints nothing.
func (c *Call) Fail(err error) int {
	var ex Exit
	if errors.As(err, &ex) {
		return int(ex)
	}
	if d, ok := diag.As(err); ok {
		if d.Component == "" || d.Component == "ebb" {
			d.Component = c.Name
		}
		fmt.Fprintln(c.Stderr, d.Sentence())
		return d.ExitCode()
	}
	fmt.Fprintf(c.Stderr, "%s: %v\n", c.Name, err)
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return diag.ExDataErr
}

// End is the exit code of a command that ended with err: 0 for nil, else
// what Fail says.
func (c *Call) End(err error) int {
	if err == nil {
		return 0
	}
	return c.Fail(err)
}

// FailEach tells every error of errs (Fail), for a command that goes on
// past each, and ends it with the last one's code: nil without any.
func (c *Call) FailEach(errs []error) error {
	code := 0
	for _, err := range errs {
		code = c.Fail(err)
	}
	if code == 0 {
		return nil
	}
	return Exit(code)
}

// Usage is Usagef as the error an Action ends with.
func (c *Call) Usage(format string, a ...any) error {
	return Exit(c.Usagef(format, a...))
}

// Print writes a command's result on stdout: v as JSON with --json
// (AsJSON), else in words by text.
func (c *Call) Print(v any, text func(w io.Writer)) {
	if c.AsJSON {
		c.JSON(v)
	} else {
		text(c.Stdout)
	}
}

// JSON writes v as indented JSON on stdout.
func (c *Call) JSON(v any) {
	enc := json.NewEncoder(c.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
