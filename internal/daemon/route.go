package daemon

import (
	"context"
	"errors"
	"os"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/cluster"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/logging"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/route"
	"github.com/ebbmail/ebb/internal/sievefilter"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// Route is ebb route's assembly: ebb serve's parts — the config, the
// directory, SRS, the SMTP policies, the checks after DATA, the relay —
// built as Run builds them but in dry-run mode (d.dryRun: nothing created,
// written or sent, no socket bound), handed to internal/route, the
// simulator that walks the message through them. Its error is route.Run's
// (a cli.Exit for a refusal the steps said), or why the parts could not be
// built, for internal/cli to tell.
func Route(ctx context.Context, cfg *config.Config, o route.Options) error {
	// The checkers log what they decide at info; the answer is the steps.
	lg, err := logging.New(o.Stderr, cfg.Log.Format, "error")
	if err != nil {
		return cli.Errorf(diag.ExConfig, "%v", err)
	}
	// Read-only and without migrating: route creates no database and takes
	// no write lock. (A read-only SQLite open may leave -wal and -shm
	// beside the database, as ebb deliver's does.)
	dir, err := directory.OpenWith(ctx, cfg, directory.Options{Logger: lg.With("component", "directory"), ReadOnly: true, NoMigrate: true})
	if err != nil {
		de := diag.From(err, "ebb route", "open")
		if path, _ := cfg.SQLiteDirectory(); path != "" && errors.Is(err, os.ErrNotExist) {
			de.Exit, de.Hint = diag.ExConfig, "create the directory first (ebb domain add, ebb user add), or point directory.dsn at it"
		}
		return de
	}
	defer dir.Close()
	d := &daemon{ctx: ctx, stdout: o.Stdout, stderr: o.Stderr, cfgPath: o.ConfigPath, cfg: cfg, log: lg, dir: dir, dryRun: true}
	// SRS as ebb serve starts it (startSRS; dryRun: a missing secret is
	// not created).
	srsErr := d.startSRS()
	var sieveState sievefilter.State
	if cluster.Enabled(cfg) {
		// Several hosts: whether vacation answered already is in the
		// database they share (read only: a dry run records nothing).
		if c, err := cluster.Attach(ctx, dir, cluster.HostName(cfg)); err == nil {
			sieveState = c.SieveState()
		}
	}
	return route.Run(ctx, o, &route.Parts{
		SieveState: sieveState,
		Config:     cfg,
		Directory:  dir,
		Hostname:   smtpOptions(cfg).Hostname,
		SRSErr:     srsErr,
		SRSSecret:  d.srsSecretPath(),
		Policy: func(kind smtpd.Kind) smtpd.Policy {
			if kind == smtpd.Submission {
				return d.submissionPolicy()
			}
			return d.inboundPolicy(smtpd.InboundPolicy{Directory: d.dir, Deliverable: d.deliverable})
		},
		Postmaster: d.hostPostmaster,
		ReverseSRS: func(env *queue.Envelope) { srsReverse(d.srs, env, func(string, ...any) {}) },
		Check: func(ctx context.Context, m *queue.Message, kind smtpd.Kind, tls bool, passed func(name, header string, notes []string)) (string, string, error) {
			return walkChecks(ctx, d.checkers(), &checkInput{Msg: m, Kind: kind, TLS: tls}, passed)
		},
		Relay: d.newRelay,
	})
}
