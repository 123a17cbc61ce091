// Package mda is ebb deliver, the delivery agent an MTA pipes one message
// into (as into maildrop or dovecot-lda). It is its own package so that two
// binaries share it: `ebb deliver` and the small `ebb-deliver`, which links
// only the delivery path and so starts in a fraction of the time (no
// Prometheus, protobuf or SMTP code to initialise, and no SQLite: a -d
// delivery resolves from the directory's delivery map, resolve.Map; see
// docs/deliver.md). This package links no SQL driver either: the full
// binary passes the directory's opener in Options.
package mda

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/logging"
	"github.com/ebbmail/ebb/internal/maildir"
	"github.com/ebbmail/ebb/internal/mailuser"
	"github.com/ebbmail/ebb/internal/pickup"
	"github.com/ebbmail/ebb/internal/resolve"
	"github.com/ebbmail/ebb/internal/sievefilter"
)

// Options adjust the command to the program it runs in.
type Options struct {
	// Directory opens the SQL directory for a -d delivery whose delivery
	// map is missing or stale, or that has none (PostgreSQL): the full
	// binary's directory.OpenForDelivery. nil in ebb-deliver, which links
	// no SQL driver and hands such a delivery over (Handoff).
	Directory func(ctx context.Context, cfg *config.Config, lg *slog.Logger) (SQLDirectory, error)
	// Handoff, when set, is called before anything is read from stdin when
	// the delivery needs code this program does not link (the SQL
	// directory, in ebb-deliver): it replaces the process with one that
	// has it, given the same arguments, and returns only if it could not.
	Handoff func(args []string) error
	// SieveState, when set, gives the vacation and duplicate state of a
	// delivery through the SQL directory: with several hosts sharing
	// state, the database they share (the full binary's; nil State: the
	// files under server.data_dir).
	SieveState func(ctx context.Context, cfg *config.Config, d SQLDirectory, lg *slog.Logger) (sievefilter.State, error)
}

// SQLDirectory is what a delivery uses of the SQL directory.
type SQLDirectory interface {
	resolve.Resolver
	// Mailbox reads a mailbox past the cache (the quota check).
	Mailbox(ctx context.Context, address string) (*resolve.Mailbox, error)
	// RefreshMap writes the delivery map again when it is stale.
	RefreshMap(ctx context.Context) error
	Close() error
}

// Command is ebb deliver, the MDA: an MTA pipes one message into it, as
// into maildrop or dovecot-lda. Exit codes follow sysexits(3): 0
// delivered, 75 try again later, 67 unknown mailbox, 65 mail loop, 77 over
// quota (permanent) or rejected, 64 bad usage. On failure one line on
// stderr: the diag sentence. Both binaries run it: ebb and ebb-deliver.
func Command(opt Options) *cli.Command {
	return &cli.Command{Name: "deliver", Args: "< MESSAGE",
		Summary: "deliver stdin into a Maildir (MDA): --maildir DIR, or -d ADDRESS through the directory and Sieve",
		Run:     func(c *cli.Call) int { return run(c, opt) }}
}

func run(c *cli.Call, opt Options) int {
	dir := c.Flags.String("maildir", "", "deliver into this Maildir `DIR` (no directory lookup)")
	addr := c.Flags.String("d", "", "deliver to this `ADDRESS` (Maildir from the directory or mail.maildir)")
	sender := c.Flags.String("f", "", "envelope `SENDER`, written as Return-Path")
	folder := c.Flags.String("m", "", "IMAP `FOLDER` to deliver into (default INBOX), e.g. Work/Reports")
	var headers cli.Strings
	c.Flags.Var(&headers, "A", "a `HEADER` line to add, \"Name: value\" (repeatable)")
	if code, ok := c.Parse(0, -1); !ok {
		return code
	}
	if len(c.Args) > 0 {
		return c.Usagef("unexpected argument %q (the message is read from stdin)", c.Args[0])
	}
	if *dir == "" && *addr == "" {
		return c.Usagef("give --maildir DIR or -d ADDRESS")
	}
	if _, err := maildir.FolderName(*folder); err != nil {
		return c.Usagef("-m: %v", err)
	}
	cfg, _ := c.Config()
	if cfg == nil {
		// A broken config is our own trouble: the MTA should retry once
		// it is fixed, not bounce (principle 3).
		return diag.ExTempFail
	}
	// A -d delivery resolves from the directory's delivery map when it is
	// fresh: a few reads, no SQLite. Opened before privileges drop (root
	// reads it; the file stays open).
	var dmap *resolve.Map
	var stale error
	if *addr != "" && *dir == "" {
		dmap, stale = openMap(cfg)
		if dmap != nil {
			defer dmap.Close()
		}
	}
	if *addr != "" && *dir == "" && dmap == nil && opt.Directory == nil && opt.Handoff != nil {
		err := opt.Handoff(c.Argv)
		d := diag.New("exec", "hand the delivery to the full ebb binary ("+stale.Error()+")", "ebb", err)
		d.Component = "ebb deliver"
		d.Who = diag.Self()
		d.Class = diag.Temporary
		d.Setting = cfg.Setting("directory.dsn")
		d.Hint = "install ebb next to ebb-deliver (or on PATH), or run ebb deliver in the MTA's transport instead of ebb-deliver"
		return c.Fail(d)
	}
	if d := dropToServerUser(cfg); d != nil {
		return c.Fail(d)
	}
	// Log lines (a broken Sieve script, a vacation response not sent, why
	// the directory was opened read-write) go to stderr, which is the
	// MTA's log for an MDA.
	lg, err := logging.New(c.Stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		lg, _ = logging.New(c.Stderr, "logfmt", "info")
	}
	agent := &deliver.Agent{Cfg: cfg, Component: "ebb deliver"}
	// Sieve (sieve.enabled); redirects and vacation replies leave through
	// the sendmail pickup, since ebb deliver has no queue.
	filter := sieveFilter(cfg, lg.Logger)
	agent.Filter = filter
	switch {
	case *dir != "":
	case dmap != nil:
		agent.Resolver = dmap
	case opt.Directory != nil:
		lg.Logger.Debug("resolving through the directory database", "why", stale.Error())
		res, err := opt.Directory(c.Ctx, cfg, lg.Logger)
		if err != nil {
			return c.Fail(diag.From(err, "ebb deliver", "open"))
		}
		defer res.Close()
		agent.Resolver = res
		if opt.SieveState != nil {
			st, err := opt.SieveState(c.Ctx, cfg, res, lg.Logger)
			if err != nil {
				return c.Fail(diag.From(err, "ebb deliver", "open"))
			}
			if st != nil {
				filter.State = st
			}
		}
		// The next ebb-deliver reads the map again.
		if err := res.RefreshMap(c.Ctx); err != nil {
			lg.Logger.Warn("cannot write the directory's delivery map: ebb-deliver hands every -d delivery to ebb deliver until it is written", "err", err)
		}
	default:
		d := diag.From(stale, "ebb deliver", "open")
		d.Class = diag.Temporary
		return c.Fail(d)
	}
	env := deliver.Envelope{
		Sender:         *sender,
		OmitReturnPath: !c.Given("f"),
		Recipient:      *addr,
		Maildir:        *dir,
		Headers:        headers,
		Folder:         *folder,
	}
	rep, err := agent.Deliver(c.Ctx, c.Stdin, env)
	if err != nil {
		return c.Fail(diag.From(err, "ebb deliver", "deliver"))
	}
	if n := len(rep.Forwards) + len(rep.Redirects) + len(rep.Outbound); n > 0 {
		// ebb deliver has no queue to hand these to.
		fmt.Fprintf(c.Stderr, "ebb deliver: warning: %d forward(s)/redirect(s)/reply(ies) not sent: ebb deliver has no queue; let the MTA expand aliases to remote addresses, or use ebb serve\n", n)
	}
	return 0
}

// openMap opens the delivery map of cfg's SQLite directory when it is
// fresh; else it returns why not (a PostgreSQL directory has none).
func openMap(cfg *config.Config) (*resolve.Map, error) {
	db, _ := cfg.SQLiteDirectory()
	if db == "" {
		return nil, fmt.Errorf("the directory is on PostgreSQL (directory.dsn): no delivery map")
	}
	m, err := resolve.OpenMap(resolve.MapPath(db), resolve.OptionsOf(cfg.Directory))
	if err != nil {
		return nil, fmt.Errorf("no delivery map: %w", err)
	}
	if err := m.Stale(db); err != nil {
		m.Close()
		return nil, fmt.Errorf("the delivery map is stale: %w", err)
	}
	return m, nil
}

// sieveFilter is the Sieve filter of ebb deliver, logging to lg;
// redirects and vacation responses go to the daemon through the sendmail
// pickup (ebb deliver has no queue of its own).
func sieveFilter(cfg *config.Config, lg *slog.Logger) *sievefilter.Filter {
	return sievefilter.New(cfg, lg.With("component", "sieve"), sievefilter.PickupOutbox{Drop: pickup.DropFor(cfg)})
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
