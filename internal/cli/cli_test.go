package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

type run struct {
	code           int
	stdout, stderr string
}

func dispatch(t *testing.T, root *Command, stdin string, args ...string) run {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Ctx: context.Background(), Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb}
	code := Dispatch(env, root, "ebb", args)
	return run{code, out.String(), errb.String()}
}

// table is a small command table: a group with two commands.
func table(got *[]string, quota *int64) *Command {
	add := &Command{Name: "add", Args: "ADDRESS", Summary: "add a mailbox", Run: func(c *Call) int {
		q := c.Flags.Int64("quota", 0, "the quota in `BYTES`")
		c.Flags.Bool("probe", false, "(internal)")
		c.Hide("probe")
		if code, ok := c.Parse(1, 1); !ok {
			return code
		}
		*got, *quota = c.Args, *q
		return 0
	}}
	list := &Command{Name: "list", Summary: "list them", NoConfig: true, Run: func(c *Call) int {
		if code, ok := c.Parse(0, -1); !ok {
			return code
		}
		*got = c.Args
		return 0
	}}
	return &Command{Name: "ebb", Sub: []*Command{
		{Name: "user", Summary: "mailboxes", Sub: []*Command{add, list}},
	}}
}

func TestParseTakesFlagsAnywhere(t *testing.T) {
	var got []string
	var quota int64
	root := table(&got, &quota)
	for _, args := range [][]string{
		{"user", "add", "a@example.org", "--quota", "5"},
		{"user", "add", "--quota", "5", "a@example.org"},
		{"user", "add", "-quota=5", "a@example.org"},
		{"user", "add", "-c", "/dev/null", "a@example.org", "--quota=5"},
	} {
		got, quota = nil, 0
		r := dispatch(t, root, "", args...)
		if r.code != 0 || len(got) != 1 || got[0] != "a@example.org" || quota != 5 {
			t.Errorf("%q: exit %d, args %q, quota %d; stderr %s", args, r.code, got, quota, r.stderr)
		}
	}
	// After "--" everything is an argument, also what looks like a flag.
	r := dispatch(t, root, "", "user", "list", "x", "--", "--quota", "-y")
	if r.code != 0 || strings.Join(got, " ") != "x --quota -y" {
		t.Errorf("after --: exit %d, args %q", r.code, got)
	}
}

func TestBadCommandLinesExit64WithTheUsage(t *testing.T) {
	var got []string
	var quota int64
	root := table(&got, &quota)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "add"}, "usage: ebb user add [options] ADDRESS"},
		{[]string{"user", "add", "a", "b"}, "usage: ebb user add [options] ADDRESS"},
		{[]string{"user", "add", "a", "--nope"}, "ebb user add: flag provided but not defined: -nope"},
		{[]string{"user", "add", "a", "--quota", "lots"}, `invalid value "lots" for flag -quota`},
		{[]string{"user", "frob"}, `ebb user: unknown subcommand "frob"`},
		{[]string{"frob"}, `ebb: unknown command "frob"`},
		{[]string{"user"}, "usage: ebb user SUBCOMMAND"},
		{nil, "usage: ebb COMMAND"},
	} {
		r := dispatch(t, root, "", tc.args...)
		if r.code != diag.ExUsage || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 64 and %q on stderr", tc.args, r.code, r.stdout, r.stderr, tc.want)
		}
	}
}

func TestHelpInEveryFormExitsZeroOnStdout(t *testing.T) {
	var got []string
	var quota int64
	root := table(&got, &quota)
	for _, args := range [][]string{
		{"user", "add", "--help"}, {"user", "add", "-h"}, {"user", "add", "-help"},
		{"help", "user", "add"}, {"user", "help", "add"}, {"user", "add", "x", "--help"},
	} {
		r := dispatch(t, root, "", args...)
		if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "usage: ebb user add [options] ADDRESS") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "--quota BYTES\n      the quota in BYTES") || !strings.Contains(r.stdout, "-c FILE") {
			t.Errorf("%q: the options are not shown as --name VALUE: %s", args, r.stdout)
		}
		if strings.Contains(r.stdout, "probe") {
			t.Errorf("%q: a hidden flag is in the help: %s", args, r.stdout)
		}
	}
	for _, args := range [][]string{{"user", "--help"}, {"help", "user"}, {"user", "-h"}, {"user", "help"}} {
		r := dispatch(t, root, "", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "usage: ebb user SUBCOMMAND") || !strings.Contains(r.stdout, "  add   add a mailbox\n  list  list them") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	if got != nil {
		t.Errorf("help ran the command: %q", got)
	}
	// A command without config has no -c.
	r := dispatch(t, root, "", "user", "list", "--help")
	if r.code != 0 || strings.Contains(r.stdout, "-c FILE") || strings.Contains(r.stdout, "options") {
		t.Errorf("list --help: %q", r.stdout)
	}
}

type coded struct{}

func (coded) Error() string { return "no such mailbox" }
func (coded) ExitCode() int { return diag.ExNoUser }

func TestFailPrintsOneLineWithTheRightCode(t *testing.T) {
	var errb bytes.Buffer
	c := newCall(&Env{Ctx: context.Background(), Stderr: &errb}, &Command{Name: "add"}, "ebb user add", nil)
	d := diag.PathError("", "open", "read", "/nonexistent/x", os.ErrNotExist, nil)
	d.Class, d.Exit = diag.Permanent, diag.ExNoInput
	for _, tc := range []struct {
		err  error
		code int
		line string
	}{
		{d, diag.ExNoInput, "ebb user add: cannot read /nonexistent/x"},
		{fmt.Errorf("mailbox a@b: %w", coded{}), diag.ExNoUser, "ebb user add: mailbox a@b: no such mailbox"},
		{errors.New("a quota cannot be negative"), diag.ExDataErr, "ebb user add: a quota cannot be negative"},
	} {
		errb.Reset()
		if code := c.Fail(tc.err); code != tc.code || !strings.HasPrefix(errb.String(), tc.line) || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("Fail(%v) = %d, %q; want %d, %q", tc.err, code, errb.String(), tc.code, tc.line)
		}
	}
}

func TestConfigNamesTheBadLine(t *testing.T) {
	path := t.TempDir() + "/ebb.toml"
	os.WriteFile(path, []byte("[server]\nnosuchkey = 1\n"), 0o644)
	var errb bytes.Buffer
	c := newCall(&Env{Ctx: context.Background(), Stderr: &errb}, &Command{Name: "check"}, "ebb config check", []string{"-c", path})
	c.Parse(0, 0)
	if cfg, code := c.Config(); cfg != nil || code != diag.ExConfig || !strings.Contains(errb.String(), path+":2") {
		t.Errorf("Config() = %v, %d, %q", cfg, code, errb.String())
	}
}

func TestPasswordFromStdin(t *testing.T) {
	for _, tc := range []struct{ in, pw, err string }{
		{"s3cret\nmore\n", "s3cret", ""},
		{"s3cret\r\n", "s3cret", ""},
		{"s3cret", "s3cret", ""},
		{"\n", "", "empty password on stdin"},
		{"", "", "no password on stdin"},
	} {
		c := newCall(&Env{Ctx: context.Background(), Stdin: strings.NewReader(tc.in), Stderr: &bytes.Buffer{}}, &Command{}, "ebb user add", nil)
		pw, err := c.ReadPassword("password: ", true)
		if pw != tc.pw || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("stdin %q: %q, %v; want %q, %q", tc.in, pw, err, tc.pw, tc.err)
		}
	}
}

func TestFailWithExitAndErrorf(t *testing.T) {
	var errb bytes.Buffer
	c := newCall(&Env{Ctx: context.Background(), Stderr: &errb}, &Command{Name: "resolve"}, "ebb directory resolve", nil)
	if code := c.Fail(Exit(diag.ExNoUser)); code != diag.ExNoUser || errb.Len() != 0 {
		t.Errorf("Fail(Exit(67)) = %d, printed %q", code, errb.String())
	}
	if code := c.Fail(Errorf(diag.ExUsage, "empty password on stdin")); code != diag.ExUsage || errb.String() != "ebb directory resolve: empty password on stdin\n" {
		t.Errorf("Fail(Errorf(64)) = %d, printed %q", code, errb.String())
	}
}

func TestRawArgsReachTheCommandAsGiven(t *testing.T) {
	var got []string
	root := &Command{Name: "ebb", Sub: []*Command{{Name: "sendmail", RawArgs: true, Run: func(c *Call) int {
		got = c.Args
		if c.Flags.Lookup("c") != nil {
			t.Error("a raw command got -c")
		}
		return 0
	}}}}
	if r := dispatch(t, root, "", "sendmail", "-t", "-oi", "-f", "a@b", "--", "x"); r.code != 0 || strings.Join(got, " ") != "-t -oi -f a@b -- x" {
		t.Errorf("raw args %q (exit %d)", got, r.code)
	}
}

func TestRepeatableFlags(t *testing.T) {
	var to Strings
	env := Pairs{}
	var errb bytes.Buffer
	c := newCall(&Env{Ctx: context.Background(), Stderr: &errb}, &Command{Name: "route"}, "ebb route",
		[]string{"--to", "a@example.org", "x", "--env", "Location=MDA", "--to=b@example.org", "--env", "phase=during=late"})
	c.Flags.Var(&to, "to", "a recipient")
	c.Flags.Var(env, "env", "an item")
	if code, ok := c.Parse(1, 1); !ok {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if to.String() != "a@example.org,b@example.org" || env["location"] != "MDA" || env["phase"] != "during=late" || len(env) != 2 {
		t.Errorf("to %q, env %q", to, env)
	}
	c = newCall(&Env{Ctx: context.Background(), Stderr: &errb}, &Command{Name: "test"}, "ebb sieve test", []string{"--env", "novalue"})
	c.Flags.Var(Pairs{}, "env", "an item")
	if code, ok := c.Parse(0, 0); ok || code != 64 || !strings.Contains(errb.String(), `want NAME=VALUE, found "novalue"`) {
		t.Errorf("--env novalue: exit %d, %q", code, errb.String())
	}
}

func TestVersionNamesVersionCommitAndGo(t *testing.T) {
	got := Version("0.1.0", "0123456789abcdef0123")
	if !strings.HasPrefix(got, "ebb 0.1.0 (commit 0123456789ab") || !strings.Contains(got, "; go1.") {
		t.Errorf("Version(0.1.0, rev) = %q", got)
	}
	// A test binary has no version or commit of its own.
	if got := Version("", ""); !strings.HasPrefix(got, "ebb devel (commit ") || !strings.HasSuffix(got, runtime.Version()+")") {
		t.Errorf("Version() = %q", got)
	}
}

func TestArityFollowsTheSynopsis(t *testing.T) {
	for _, tc := range []struct {
		args     string
		min, max int
	}{
		{"", 0, 0}, {"ADDRESS", 1, 1}, {"[DOMAIN]", 0, 1}, {"[DOMAIN...]", 0, -1}, {"ID...", 1, -1},
		{"ADDRESS DESTINATION...", 2, -1}, {"NAME [UID...]", 1, -1}, {"ADDRESS SIZE [MESSAGES]", 2, 3},
		{"SCRIPT MESSAGE", 2, 2}, {"--to ADDR... [MESSAGE-FILE]", 0, 1}, {"QUEUE-ID|REF|<MESSAGE-ID>|ADDRESS", 1, 1},
	} {
		if min, max := arity(tc.args); min != tc.min || max != tc.max {
			t.Errorf("arity(%q) = %d, %d; want %d, %d", tc.args, min, max, tc.min, tc.max)
		}
	}
}

// A command with Do: Dispatch parses its flags (anywhere) and counts its
// arguments by Args, loads its config (-c, not with NoConfig), and ends
// with what its action returned: nil 0, an error told by Fail, Exit
// silently, Usage with the command's usage.
func TestDoGetsItsFlagsArgumentsAndConfig(t *testing.T) {
	conf := t.TempDir() + "/ebb.toml"
	os.WriteFile(conf, []byte("[server]\nhostname = \"mx.example.test\"\n"), 0o644)
	var ran []string
	var end error
	root := &Command{Name: "ebb", Sub: []*Command{
		{Name: "quota", Args: "ADDRESS [SIZE]", Do: func(c *Call) Action {
			force := c.Flags.Bool("force", false, "do it")
			return func(cfg *config.Config) error {
				ran = append(ran, fmt.Sprintf("%s %v %v", cfg.Server.Hostname, c.Args, *force))
				return end
			}
		}},
		{Name: "version", NoConfig: true, JSON: true, Do: func(c *Call) Action {
			return func(cfg *config.Config) error {
				ran = append(ran, fmt.Sprintf("version %v %v", cfg == nil, c.AsJSON))
				return nil
			}
		}},
	}}
	if r := dispatch(t, root, "", "quota", "a@example.org", "--force", "-c", conf, "1G"); r.code != 0 || r.stderr != "" || len(ran) != 1 || ran[0] != "mx.example.test [a@example.org 1G] true" {
		t.Errorf("run: %+v, ran %q", r, ran)
	}
	ran = nil
	for _, args := range [][]string{{"quota"}, {"quota", "a", "b", "c"}, {"quota", "--nosuch", "a"}} {
		if r := dispatch(t, root, "", args...); r.code != diag.ExUsage || !strings.Contains(r.stderr, "usage: ebb quota [options] ADDRESS [SIZE]") || len(ran) != 0 {
			t.Errorf("%q: %+v, ran %q", args, r, ran)
		}
	}
	if r := dispatch(t, root, "", "quota", "--help"); r.code != 0 || !strings.Contains(r.stdout, "--force") || len(ran) != 0 {
		t.Errorf("--help: %+v, ran %q", r, ran)
	}
	bad := t.TempDir() + "/bad.toml"
	os.WriteFile(bad, []byte("[server]\nnosuchkey = 1\n"), 0o644)
	if r := dispatch(t, root, "", "quota", "-c", bad, "a"); r.code != diag.ExConfig || !strings.Contains(r.stderr, bad+":2") || len(ran) != 0 {
		t.Errorf("bad config: %+v, ran %q", r, ran)
	}
	if r := dispatch(t, root, "", "version"); r.code != 0 || len(ran) != 1 || ran[0] != "version true false" {
		t.Errorf("NoConfig: %+v, ran %q", r, ran)
	}
	if r := dispatch(t, root, "", "version", "--json"); r.code != 0 || len(ran) != 2 || ran[1] != "version true true" {
		t.Errorf("JSON in the table: %+v, ran %q", r, ran)
	}
	if r := dispatch(t, root, "", "quota", "--json", "-c", conf, "a"); r.code != diag.ExUsage {
		t.Errorf("--json without JSON in the table: %+v", r)
	}
	if r := dispatch(t, root, "", "version", "-c", conf); r.code != diag.ExUsage {
		t.Errorf("NoConfig took -c: %+v", r)
	}
	for _, tc := range []struct {
		end    error
		code   int
		stderr string
	}{
		{Exit(1), 1, ""},
		{Errorf(diag.ExNoInput, "no such message"), diag.ExNoInput, "ebb quota: no such message\n"},
		{errors.New("cannot use it"), diag.ExDataErr, "ebb quota: cannot use it\n"},
	} {
		end = tc.end
		if r := dispatch(t, root, "", "quota", "-c", conf, "a"); r.code != tc.code || r.stderr != tc.stderr {
			t.Errorf("action ended with %v: %+v", tc.end, r)
		}
	}
}

func TestUsageFailEachAndPrint(t *testing.T) {
	var out, errb bytes.Buffer
	c := newCall(&Env{Ctx: context.Background(), Stdout: &out, Stderr: &errb}, &Command{Name: "show", Args: "ID..."}, "ebb queue show", nil)
	if code := c.Fail(c.Usage("%s: not a queue id", "x")); code != diag.ExUsage || errb.String() != "ebb queue show: x: not a queue id\nusage: ebb queue show [options] ID...\n(ebb queue show --help tells more)\n" {
		t.Errorf("Usage: %d, %q", code, errb.String())
	}
	errb.Reset()
	if err := c.FailEach(nil); err != nil || errb.Len() != 0 {
		t.Errorf("FailEach(nil) = %v, %q", err, errb.String())
	}
	err := c.FailEach([]error{Errorf(diag.ExDataErr, "A: bad"), Errorf(diag.ExNoInput, "B: not queued")})
	if c.End(err) != diag.ExNoInput || errb.String() != "ebb queue show: A: bad\nebb queue show: B: not queued\n" {
		t.Errorf("FailEach: %v, %q", err, errb.String())
	}
	if c.End(nil) != 0 {
		t.Error("End(nil) is not 0")
	}
	v := map[string]int{"n": 1}
	c.AsJSON = true
	c.Print(v, func(w io.Writer) { fmt.Fprintln(w, "text") })
	c.AsJSON = false
	c.Print(v, func(w io.Writer) { fmt.Fprintln(w, "text") })
	if out.String() != "{\n  \"n\": 1\n}\ntext\n" {
		t.Errorf("Print wrote %q", out.String())
	}
}
