package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

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
