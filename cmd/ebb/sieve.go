package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/maildir"
	"github.com/ebbmail/ebb/internal/sieve"
	"github.com/ebbmail/ebb/internal/sievefilter"
)

// ebb sieve check and ebb sieve test (docs/sieve.md): compile as delivery
// would (internal/sievefilter), and dry-run printing the actions in the
// stable line format (sieve.FormatActions).
var sieveCmd = &cli.Command{Name: "sieve", Summary: "compile Sieve scripts, or dry-run one on a message and print the actions",
	Help: "  see docs/sieve.md for the output format and every option", Sub: []*cli.Command{
		{Name: "check", Args: "SCRIPT...", Summary: "compile: exit 0 when all compile, 1 when one does not (FILE:LINE:COL: error: ...)", Run: sieveCheck},
		{Name: "test", Args: "SCRIPT MESSAGE", Summary: "the dry run: exit 0 ran, 1 failed at run time (implicit keep), 2 does not compile", Run: sieveTest},
	}}

// sieveOptions are the options both subcommands share.
type sieveOptions struct {
	ext  *string
	dirs sievefilter.Dirs
}

func sieveFlags(c *cli.Call) *sieveOptions {
	o := &sieveOptions{ext: c.Flags.String("extensions", "", "change the extension set of sieve.extensions: \"+editheader -regex\", \"pigeonhole\", \"none +fileinto\"")}
	c.Flags.StringVar(&o.dirs.Personal, "personal-dir", "", "where include :personal finds scripts (default: the script's directory)")
	c.Flags.StringVar(&o.dirs.Global, "global-dir", "", "where include :global finds scripts (default: sieve.global_dir)")
	return o
}

func sieveCheck(c *cli.Call) int {
	o := sieveFlags(c)
	cfg, code := c.ParseConfig(1, -1)
	if cfg == nil {
		return code
	}
	for _, path := range c.Args {
		s, err := sievefilter.CompileFile(cfg, path, o.dirs, *o.ext)
		if err != nil {
			printLines(c.Stderr, sieve.CompileErrorLines(path, err))
			code = 1
			continue
		}
		fmt.Fprintf(c.Stdout, "%s: ok (requires: %s)\n", path, strings.Join(s.Requires(), " "))
	}
	return code
}

func sieveTest(c *cli.Call) int {
	o := sieveFlags(c)
	from := c.Flags.String("from", "", "envelope sender (default: Return-Path, else From of the message); \"<>\" or \"\" for the null sender")
	to := c.Flags.String("to", "", "envelope recipient (default: Delivered-To, else the first To address)")
	auth := c.Flags.String("auth", "", "authenticated submitter (envelope \"auth\")")
	trace := c.Flags.Bool("trace", false, "print which tests matched and why, on stderr")
	mdir := c.Flags.String("maildir", "", "Maildir whose folders mailboxexists sees (default: only INBOX exists)")
	spam := c.Flags.Int("spam-score", 0, "spamtest value 0..10 (0: not tested)")
	spamPct := c.Flags.Int("spam-percent", -1, "spamtest :percent value 0..100 (-1: not tested)")
	virus := c.Flags.Int("virus-score", 0, "virustest value 0..5 (0: not tested)")
	envs := cli.Pairs{}
	c.Flags.Var(envs, "env", "environment item `NAME=VALUE` (repeatable), e.g. --env location=MDA")
	cfg, code := c.ParseConfig(2, 2)
	if cfg == nil {
		return code
	}
	script, msgPath := c.Args[0], c.Args[1]
	s, err := sievefilter.CompileFile(cfg, script, o.dirs, *o.ext)
	if err != nil {
		printLines(c.Stderr, sieve.CompileErrorLines(script, err))
		if sievefilter.IsCompileError(err) {
			return 2
		}
		return diag.ExNoInput
	}
	mf, err := os.Open(msgPath)
	if err != nil {
		return c.Fail(cli.Errorf(diag.ExNoInput, "%v", err))
	}
	defer mf.Close()
	st, err := mf.Stat()
	if err != nil {
		return c.Fail(cli.Errorf(diag.ExNoInput, "%v", err))
	}
	msg, err := sieve.NewMessage(mf, st.Size())
	if err != nil {
		return c.Fail(cli.Errorf(diag.ExDataErr, "read the message %s: %v", msgPath, err))
	}
	envl := sieve.Envelope{From: *from, To: *to, Auth: *auth}
	if !c.Given("from") {
		envl.From = sieve.HeaderAddress(msg, "Return-Path", "From")
	}
	if envl.From == "<>" {
		envl.From = ""
	}
	if !c.Given("to") {
		envl.To = sieve.HeaderAddress(msg, "Delivered-To", "To")
	}
	rt := sieve.Runtime{SpamScore: *spam, SpamPercent: *spamPct, VirusScore: *virus, Environment: envs}
	if *trace {
		rt.Trace = c.Stderr
	}
	if *mdir != "" {
		rt.MailboxExists = func(name string) bool { return maildir.HasFolder(*mdir, name) }
	}
	res, err := s.Run(c.Ctx, msg, envl, rt)
	if err != nil {
		fmt.Fprintln(c.Stdout, "error "+sieve.Quote(err.Error()))
		fmt.Fprintln(c.Stdout, "implicit keep")
		return 1
	}
	printLines(c.Stdout, sieve.FormatActions(res))
	return 0
}
