package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/scan"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// scanState is the scan engine, built once: SMTP and fetched mail share
// its scanners, breakers and metrics.
type scanState struct {
	once     sync.Once
	checkers []checker
	checker  *scanChecker // nil when no scanner was configured at start
}

// scanCheckers: clamd, milters, spamd and rspamd as one checker (the
// engine runs them in order or in parallel within scan.total_timeout).
func (d *daemon) scanCheckers() []checker {
	d.scan.once.Do(func() {
		e, err := d.newScanEngine(d.cfg)
		switch {
		case err != nil:
			// config.Load validated the addresses' spelling; what is left
			// is a programming error, and scanning must not silently stop.
			d.log.Error("scan: cannot set up the scanners", "err", err)
			d.scan.checkers = []checker{brokenScan{err}}
		case e != nil:
			d.scan.checker = &scanChecker{d: d}
			d.scan.checker.run.Store(&scanRun{e, d.cfg})
			d.scan.checkers = []checker{d.scan.checker}
		}
	})
	return d.scan.checkers
}

// reloadScan is SIGHUP for scan.*: a new engine (its breakers closed)
// serves the messages that arrive from now on. It reports whether it
// applied; a daemon started without scanners needs a restart to get them.
func (d *daemon) reloadScan(cfg *config.Config) bool {
	c := d.scan.checker
	if c == nil {
		return false
	}
	changed := false
	for _, ch := range config.Changed(c.run.Load().cfg, cfg) {
		changed = changed || strings.HasPrefix(ch.Key, "scan.")
	}
	if !changed {
		return true // nothing to rebuild: the breakers keep their state
	}
	e, err := d.newScanEngine(cfg)
	if err != nil || e == nil {
		d.log.Error("reload: scanners not changed; the running ones stay", "err", err,
			"hint", "removing every scanner needs a restart")
		return false
	}
	c.run.Store(&scanRun{e, cfg})
	d.log.Info("reload: scanners rebuilt", "scanners", len(e.Entries()))
	return true
}

// newScanEngine builds the engine cfg names; nil when it names none.
func (d *daemon) newScanEngine(cfg *config.Config) (*scan.Engine, error) {
	host := cfg.Server.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	es, err := scan.FromConfig(cfg, host)
	if err != nil {
		return nil, err
	}
	state := filepath.Join(cfg.Server.DataDir, scan.BreakerFile)
	if len(es) == 0 {
		if !d.dryRun {
			os.Remove(state)
		}
		return nil, nil
	}
	var m *scan.Metrics
	if d.metrics != nil {
		m = scan.NewMetrics(d.metrics.Registry)
	}
	lg := d.log.With("component", "scan")
	o := scan.OptionsFromConfig(cfg, m, lg)
	if d.dryRun {
		return scan.New(es, o), nil // ebb route: the daemon's breaker state is not ours to write
	}
	o.OnBreaker = func(st []scan.BreakerState) {
		// For ebb mailq and ebb doctor, which run in other processes.
		if err := scan.WriteBreakers(state, st); err != nil {
			lg.Warn("scan: cannot record the breakers' state for mailq and doctor", "path", state, "err", err)
		}
	}
	e := scan.New(es, o)
	o.OnBreaker(e.Breakers()) // a fresh start: every breaker closed
	return e, nil
}

type scanChecker struct {
	d   *daemon
	run atomic.Pointer[scanRun] // swapped by SIGHUP (reloadScan)
}

// scanRun is an engine and the config it was built from (scan.submission).
type scanRun struct {
	e   *scan.Engine
	cfg *config.Config
}

func (c *scanChecker) name() string { return "scan" }

func (c *scanChecker) check(ctx context.Context, in *checkInput) (string, error) {
	env := &in.Msg.Envelope
	m := &scan.Message{
		Path:   in.Msg.File,
		Prefix: in.Header.String() + env.Prefix,
		From:   env.From,
		Rcpts:  env.Recipients,
		IP:     env.ClientAddr,
		Helo:   env.ClientHelo,
		ID:     in.Msg.ID,
		User:   env.AuthUser,
	}
	authenticated := env.AuthUser != "" && in.Kind != smtpd.Inbound
	run := c.run.Load()
	rep := run.e.Scan(ctx, m, scan.SelectFor(run.cfg, authenticated))
	v := rep.Verdict
	if v.Refused() {
		de := diag.New("scan", "accept the message", "", errors.New(v.Text))
		de.Component = "scan"
		de.SMTPCode, de.Enhanced, de.Public = v.Code, v.Enhanced, v.Text
		de.Class = diag.Temporary
		if v.Permanent {
			de.Class = diag.Permanent
		}
		if v.Cause == "policy" {
			de.Hint = "the scanner's failure policy decided (scan." + scannerKey(v.By) + ".on_failure); see the log line \"scan: message not scanned\" for the cause, and run ebb doctor"
		}
		return "", de
	}
	if v.Hold != "" {
		in.Msg.Held = true
		c.d.log.Warn("scan: message held", "queue_id", in.Msg.ID, "reason", v.Hold)
	}
	return rep.Header(), nil
}

func scannerKey(name string) string {
	switch name {
	case "clamd", "spamd", "rspamd":
		return name
	}
	return "milter"
}

// brokenScan refuses every message with a 451 while the scanners cannot
// be set up: accepting mail unscanned without a word is what ebb never does.
type brokenScan struct{ err error }

func (b brokenScan) name() string { return "scan" }

func (b brokenScan) check(context.Context, *checkInput) (string, error) {
	de := diag.New("scan", "set up the scanners", "", b.err)
	de.Component, de.Class = "scan", diag.Temporary
	de.SMTPCode, de.Enhanced, de.Public = 451, [3]int{4, 7, 1}, "Message cannot be scanned now, try again later"
	de.SetFix(diag.Because("fix scan.* in the config", diag.Command("ebb", "config", "check"), diag.Say("correct what it names"), diag.Reload(nil)))
	return "", de
}
