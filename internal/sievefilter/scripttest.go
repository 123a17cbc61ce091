package sievefilter

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/maildir"
	"github.com/ebbmail/ebb/internal/sieve"
)

// ScriptTest is what ebb sieve test runs a script with, besides the message.
type ScriptTest struct {
	// Envelope: an empty From or To is taken from the message (Return-Path,
	// else From; Delivered-To, else the first To) unless FromSet or ToSet
	// says it was given empty on purpose (the null sender). From "<>" is
	// the null sender too.
	Envelope       sieve.Envelope
	FromSet, ToSet bool
	Runtime        sieve.Runtime
	// Maildir is whose folders mailboxexists sees ("": only INBOX).
	Maildir string
}

// Test runs s over the message in the file msgPath as delivery would and
// delivers nothing: the actions, one a line (sieve.FormatActions). A
// script that fails at run time gives "error ..." and "implicit keep" (the
// message would be kept) and failed. err is about the message file: exit
// 66 when it cannot be opened, 65 when it cannot be read as a message.
func (o ScriptTest) Test(ctx context.Context, s *sieve.Script, msgPath string) (lines []string, failed bool, err error) {
	f, err := os.Open(msgPath)
	if err != nil {
		d := diag.PathError("", "open", "read the message", msgPath, diag.UnwrapPath(err), nil)
		d.Class, d.Exit = diag.Permanent, diag.ExNoInput
		return nil, false, d
	}
	defer f.Close()
	st, err := f.Stat()
	if err == nil {
		var msg *sieve.FileMessage
		if msg, err = sieve.NewMessage(f, st.Size()); err == nil {
			return o.run(ctx, s, msg)
		}
	}
	d := diag.New("read", "read the message", msgPath, err)
	d.Class, d.Exit = diag.Permanent, diag.ExDataErr
	return nil, false, d
}

func (o ScriptTest) run(ctx context.Context, s *sieve.Script, msg sieve.Message) ([]string, bool, error) {
	env := o.Envelope
	if env.From == "" && !o.FromSet {
		env.From = sieve.HeaderAddress(msg, "Return-Path", "From")
	}
	if env.From == "<>" {
		env.From = ""
	}
	if env.To == "" && !o.ToSet {
		env.To = sieve.HeaderAddress(msg, "Delivered-To", "To")
	}
	rt := o.Runtime
	if o.Maildir != "" {
		rt.MailboxExists = func(name string) bool { return maildir.HasFolder(o.Maildir, name) }
	}
	res, err := s.Run(ctx, msg, env, rt)
	if err != nil {
		return []string{"error " + sieve.Quote(err.Error()), "implicit keep"}, true, nil
	}
	return sieve.FormatActions(res), false, nil
}

// Run is ebb sieve test: the script compiled as delivery would
// (CompileReported: its errors on errOut, exit 2, or 66 when it cannot be
// read), run on the message in the file msgPath (Test), the actions on w
// one a line. A script that fails at run time ends with exit 1.
func (o ScriptTest) Run(ctx context.Context, w, errOut io.Writer, cfg *config.Config, script, msgPath string, dirs Dirs, extensions string) error {
	s, code := CompileReported(errOut, cfg, script, dirs, extensions)
	if s == nil {
		return cli.Exit(code)
	}
	lines, failed, err := o.Test(ctx, s, msgPath)
	if err != nil {
		return err
	}
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	if failed {
		return cli.Exit(1)
	}
	return nil
}

// CompileReported is CompileFile for the sieve commands: on failure the
// FILE:LINE:COL lines (sieve.CompileErrorLines) go to errOut and the exit
// code is returned: 2 for a script that does not compile, 66 for one that
// cannot be read.
func CompileReported(errOut io.Writer, cfg *config.Config, path string, dirs Dirs, extensions string) (*sieve.Script, int) {
	s, err := CompileFile(cfg, path, dirs, extensions)
	if err == nil {
		return s, 0
	}
	for _, l := range sieve.CompileErrorLines(path, err) {
		fmt.Fprintln(errOut, l)
	}
	if IsCompileError(err) {
		return nil, 2
	}
	return nil, diag.ExNoInput
}

// CheckFiles is ebb sieve check: each script compiled as delivery would,
// "PATH: ok (requires: …)" on out for one that compiles, its errors on
// errOut for one that does not. It reports whether all compiled.
func CheckFiles(out, errOut io.Writer, cfg *config.Config, paths []string, dirs Dirs, extensions string) bool {
	ok := true
	for _, path := range paths {
		s, code := CompileReported(errOut, cfg, path, dirs, extensions)
		if code != 0 {
			ok = false
			continue
		}
		fmt.Fprintf(out, "%s: ok (requires: %s)\n", path, strings.Join(s.Requires(), " "))
	}
	return ok
}
