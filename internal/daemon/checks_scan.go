package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/scan"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// scanState is the scan engine, built once: SMTP and fetched mail share
// its scanners, breakers and metrics.
type scanState struct {
	once     sync.Once
	checkers []checker
}

// scanCheckers: clamd, milters, spamd and rspamd as one checker (the
// engine runs them in order or in parallel within scan.total_timeout).
func (d *daemon) scanCheckers() []checker {
	d.scan.once.Do(func() { d.scan.checkers = d.newScanCheckers() })
	return d.scan.checkers
}

func (d *daemon) newScanCheckers() []checker {
	host := d.cfg.Server.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	es, err := scan.FromConfig(d.cfg, host)
	if err != nil {
		// config.Load validated the addresses' spelling; what is left is
		// a programming error, and scanning must not silently stop.
		d.log.Error("scan: cannot set up the scanners", "err", err)
		return []checker{brokenScan{err}}
	}
	state := filepath.Join(d.cfg.Server.DataDir, scan.BreakerFile)
	if len(es) == 0 {
		os.Remove(state)
		return nil
	}
	var m *scan.Metrics
	if d.metrics != nil {
		m = scan.NewMetrics(d.metrics.Registry)
	}
	lg := d.log.With("component", "scan")
	o := scan.OptionsFromConfig(d.cfg, m, lg)
	o.OnBreaker = func(st []scan.BreakerState) {
		// For ebb mailq and ebb doctor, which run in other processes.
		if err := scan.WriteBreakers(state, st); err != nil {
			lg.Warn("scan: cannot record the breakers' state for mailq and doctor", "path", state, "err", err)
		}
	}
	e := scan.New(es, o)
	o.OnBreaker(e.Breakers()) // a fresh start: every breaker closed
	return []checker{&scanChecker{d: d, e: e}}
}

type scanChecker struct {
	d *daemon
	e *scan.Engine
}

func (c *scanChecker) name() string { return "scan" }

func (c *scanChecker) check(ctx context.Context, in *checkInput) (string, error) {
	env := &in.Msg.Envelope
	m := &scan.Message{
		Path:   in.Msg.DataPath,
		Prefix: in.Header.String() + env.Prefix,
		From:   env.From,
		Rcpts:  env.Recipients,
		IP:     env.ClientAddr,
		Helo:   env.ClientHelo,
		ID:     in.Msg.ID,
		User:   env.AuthUser,
	}
	authenticated := env.AuthUser != "" && in.Kind != smtpd.Inbound
	rep := c.e.Scan(ctx, m, scan.SelectFor(c.d.cfg, authenticated))
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
	de.Hint = "fix scan.* in the config (ebb config check), then reload"
	return "", de
}
