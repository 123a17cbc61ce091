package main

import (
	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/sieve"
	"github.com/ebbmail/ebb/internal/sievefilter"
)

// ebb sieve check and ebb sieve test (docs/sieve.md): compile as delivery
// would (internal/sievefilter), and dry-run printing the actions in the
// stable line format (sieve.FormatActions).
var sieveCmd = &cli.Command{Name: "sieve", Summary: "compile Sieve scripts, or dry-run one on a message and print the actions",
	Help: "  see docs/sieve.md for the output format and every option", Sub: []*cli.Command{
		{Name: "check", Args: "SCRIPT...", Summary: "compile: exit 0 when all compile, 1 when one does not (FILE:LINE:COL: error: ...)", Do: sieveCheck},
		{Name: "test", Args: "SCRIPT MESSAGE", Summary: "the dry run: exit 0 ran, 1 failed at run time (implicit keep), 2 does not compile", Do: sieveTest},
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

func sieveCheck(c *cli.Call) cli.Action {
	o := sieveFlags(c)
	return func(cfg *config.Config) error {
		if !sievefilter.CheckFiles(c.Stdout, c.Stderr, cfg, c.Args, o.dirs, *o.ext) {
			return cli.Exit(1)
		}
		return nil
	}
}

func sieveTest(c *cli.Call) cli.Action {
	opt := sieveFlags(c)
	o := sievefilter.ScriptTest{Runtime: sieve.Runtime{Environment: map[string]string{}}}
	c.Flags.StringVar(&o.Envelope.From, "from", "", "envelope sender (default: Return-Path, else From of the message); \"<>\" or \"\" for the null sender")
	c.Flags.StringVar(&o.Envelope.To, "to", "", "envelope recipient (default: Delivered-To, else the first To address)")
	c.Flags.StringVar(&o.Envelope.Auth, "auth", "", "authenticated submitter (envelope \"auth\")")
	trace := c.Flags.Bool("trace", false, "print which tests matched and why, on stderr")
	c.Flags.StringVar(&o.Maildir, "maildir", "", "Maildir whose folders mailboxexists sees (default: only INBOX exists)")
	c.Flags.IntVar(&o.Runtime.SpamScore, "spam-score", 0, "spamtest value 0..10 (0: not tested)")
	c.Flags.IntVar(&o.Runtime.SpamPercent, "spam-percent", -1, "spamtest :percent value 0..100 (-1: not tested)")
	c.Flags.IntVar(&o.Runtime.VirusScore, "virus-score", 0, "virustest value 0..5 (0: not tested)")
	c.Flags.Var(cli.Pairs(o.Runtime.Environment), "env", "environment item `NAME=VALUE` (repeatable), e.g. --env location=MDA")
	return func(cfg *config.Config) error {
		o.FromSet, o.ToSet = c.Given("from"), c.Given("to")
		if *trace {
			o.Runtime.Trace = c.Stderr
		}
		return o.Run(c.Ctx, c.Stdout, c.Stderr, cfg, c.Args[0], c.Args[1], opt.dirs, *opt.ext)
	}
}
