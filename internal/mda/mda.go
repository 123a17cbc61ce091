// Package mda is ebb deliver, the delivery agent an MTA pipes one message
// into (as into maildrop or dovecot-lda). It is its own package so that two
// binaries share it: `ebb deliver` and the small `ebb-deliver`, which links
// only the delivery path and so starts in a fraction of the time (no
// Prometheus, protobuf or SMTP code to initialise; see docs/deliver.md).
package mda

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/logging"
	"github.com/ebbmail/ebb/internal/maildir"
	"github.com/ebbmail/ebb/internal/mailuser"
	"github.com/ebbmail/ebb/internal/pickup"
	"github.com/ebbmail/ebb/internal/sievefilter"
)

// stringList is a repeatable flag (-A "Header: value" -A ...).
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ", ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// Run is the MDA: an MTA pipes one message into it, as into maildrop
// or dovecot-lda. Exit codes follow sysexits(3): 0 delivered, 75 try again
// later, 67 unknown mailbox, 65 mail loop, 77 over quota (permanent) or
// rejected, 64 bad usage. On failure one line on stderr: the diag sentence.
func Run(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) int {
	return RunWith(ctx, args, stdin, stderr, Options{})
}

// Options adjust Run to the program it runs in.
type Options struct {
	// Handoff, when set, is called before anything is read from stdin when
	// the configuration needs code this program does not link (a
	// PostgreSQL directory, in ebb-deliver): it replaces the process with
	// one that has it, given the same arguments, and returns only if it
	// could not.
	Handoff func(args []string) error
}

// RunWith is Run with options.
func RunWith(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer, opt Options) int {
	e := &env{ctx: ctx, args: args, stdin: stdin, stderr: stderr}
	fs := flag.NewFlagSet("deliver", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfgPath := fs.String("c", "", "config file (default "+config.DefaultPath+")")
	dir := fs.String("maildir", "", "deliver into this Maildir (no directory lookup)")
	addr := fs.String("d", "", "deliver to this address (Maildir from the directory or mail.maildir)")
	sender := fs.String("f", "", "envelope sender, written as Return-Path")
	folder := fs.String("m", "", "IMAP folder to deliver into (default INBOX), e.g. Work/Reports")
	var headers stringList
	fs.Var(&headers, "A", `header line to add, "Name: value" (repeatable)`)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: ebb deliver [-c FILE] (--maildir DIR | -d ADDRESS) [-f SENDER] [-A 'Header: value']... [-m FOLDER] < message")
		fs.PrintDefaults()
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(e.stderr, "ebb deliver: "+format+"\n", a...)
		return diag.ExUsage
	}
	if err := fs.Parse(e.args); err != nil {
		return diag.ExUsage
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q (the message is read from stdin)", fs.Arg(0))
	}
	if *dir == "" && *addr == "" {
		return usageErr("give --maildir DIR or -d ADDRESS")
	}
	if _, err := maildir.FolderName(*folder); err != nil {
		return usageErr("-m: %v", err)
	}
	senderSet := Given(fs, "f")

	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printErr(e, err)
		// A broken config is our own trouble: the MTA should retry once
		// it is fixed, not bounce (principle 3).
		return diag.ExTempFail
	}
	if *dir == "" && directory.IsPostgresDSN(cfg.Directory.DSN) && !directory.HasPostgres() && opt.Handoff != nil {
		err := opt.Handoff(e.args)
		d := diag.New("exec", "hand the delivery to the full ebb binary (a PostgreSQL directory)", "ebb", err)
		d.Component = "ebb deliver"
		d.Who = diag.Self()
		d.Class = diag.Temporary
		d.Setting = cfg.Setting("directory.dsn")
		d.Hint = "install ebb next to ebb-deliver (or on PATH), or run ebb deliver in the MTA's transport instead of ebb-deliver"
		fmt.Fprintln(e.stderr, d.Sentence())
		return d.ExitCode()
	}
	if d := dropToServerUser(cfg); d != nil {
		fmt.Fprintln(e.stderr, d.Sentence())
		return d.ExitCode()
	}
	// Log lines (a broken Sieve script, a vacation response not sent, why
	// the directory was opened read-write) go to stderr, which is the
	// MTA's log for an MDA.
	lg, err := logging.New(e.stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		lg, _ = logging.New(e.stderr, "logfmt", "info")
	}
	agent := &deliver.Agent{Cfg: cfg, Component: "ebb deliver"}
	// Sieve (sieve.enabled); redirects and vacation replies leave through
	// the sendmail pickup, since ebb deliver has no queue.
	agent.Filter = sieveFilter(cfg, lg.Logger)
	if *dir == "" {
		res, err := openDirectory(e.ctx, cfg, lg.Logger)
		if err != nil {
			d := diag.From(err, "ebb deliver", "open")
			fmt.Fprintln(e.stderr, d.Sentence())
			return d.ExitCode()
		}
		defer res.Close()
		agent.Resolver = res
	}
	env := deliver.Envelope{
		Sender:         *sender,
		OmitReturnPath: !senderSet,
		Recipient:      *addr,
		Maildir:        *dir,
		Headers:        headers,
		Folder:         *folder,
	}
	rep, err := agent.Deliver(e.ctx, e.stdin, env)
	if err != nil {
		d := diag.From(err, "ebb deliver", "deliver")
		fmt.Fprintln(e.stderr, d.Sentence())
		return d.ExitCode()
	}
	if n := len(rep.Forwards) + len(rep.Redirects) + len(rep.Outbound); n > 0 {
		// ebb deliver has no queue to hand these to.
		fmt.Fprintf(e.stderr, "ebb deliver: warning: %d forward(s)/redirect(s)/reply(ies) not sent: ebb deliver has no queue; let the MTA expand aliases to remote addresses, or use ebb serve\n", n)
	}
	return 0
}

// openDirectory opens the directory for this one delivery's lookups. It
// first opens it read-only and leaves the schema alone: a one-message
// process then takes no write lock and runs no migration check, and it
// leaves SQLite's -wal and -shm files for the next process (a read-write
// connection that closes last checkpoints and deletes them, so every
// delivery would create and delete two files). A database that is missing
// or not at this ebb's schema version is opened the usual way, which
// creates or migrates it, as before; why is logged at debug level. A lock
// held past directory.busy_timeout is returned as it is: the usual open
// would wait for it as long again, and fail the same way.
func openDirectory(ctx context.Context, cfg *config.Config, lg *slog.Logger) (*directory.Directory, error) {
	d, err := directory.OpenWith(ctx, cfg, directory.Options{NoMigrate: true, ReadOnly: true})
	if err == nil {
		v, verr := d.CurrentVersion(ctx)
		if verr == nil && v == directory.SchemaVersion() {
			return d, nil
		}
		d.Close()
		err = verr
		if verr == nil {
			err = fmt.Errorf("schema version %d, this ebb's is %d", v, directory.SchemaVersion())
		}
	}
	if directory.IsBusy(err) || ctx.Err() != nil {
		return nil, err
	}
	lg.Debug("directory: not usable read-only; opening it read-write, which creates or migrates it", "why", err)
	return directory.Open(ctx, cfg)
}

type env struct {
	ctx    context.Context
	args   []string
	stdin  io.Reader
	stderr io.Writer
}

// sieveFilter is the Sieve filter of ebb deliver, logging to lg;
// redirects and vacation responses go to the daemon through the sendmail
// pickup (ebb deliver has no queue of its own).
func sieveFilter(cfg *config.Config, lg *slog.Logger) deliver.Filter {
	drop := &pickup.Drop{Dir: cfg.PickupDir(), Socket: cfg.Sendmail.Socket, DirSetting: cfg.PickupDirSetting(),
		Timeout: cfg.Sendmail.Timeout.Duration}
	return sievefilter.New(cfg, lg.With("component", "sieve"), sievefilter.PickupOutbox{Drop: drop})
}

// Given reports whether the flag name was given on the command line (a
// flag set to its default is not the same as one left out: -f "" means
// the null sender).
func Given(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func printErr(e *env, err error) {
	if d, ok := diag.As(err); ok {
		fmt.Fprintln(e.stderr, d.Sentence())
		return
	}
	fmt.Fprintln(e.stderr, err)
}

// dropToServerUser makes a root ebb deliver run as server.user, so that the
// files it creates belong to the user the IMAP server reads them as (as
// dovecot-lda drops to the userdb uid). A missing user is our own trouble
// here, not the recipient's: temporary, so the MTA keeps the message.
func dropToServerUser(cfg *config.Config) *diag.Error {
	u, err := mailuser.ForRoot(cfg)
	if err != nil {
		d, _ := diag.As(err)
		d.Component, d.Who = "ebb deliver", diag.Self()
		d.Class, d.Exit = diag.Temporary, 0
		return d
	}
	if u == nil {
		return nil
	}
	if err := u.Become(); err != nil {
		d := diag.New("setuid", "switch to the delivery user", cfg.Server.User, err)
		d.Component = "ebb deliver"
		d.Who = diag.Self()
		d.Setting = cfg.Setting("server.user")
		d.Class = diag.Temporary
		return d
	}
	return nil
}
