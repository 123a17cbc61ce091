package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

// FromConfig builds the scanners the config names, in the order a
// sequential run asks them: clamd, milters, spamd, rspamd (cheap and
// decisive first). host is our name, for milters' macro j.
func FromConfig(cfg *config.Config, host string) ([]Entry, error) {
	sc := cfg.Scan
	var es []Entry
	if a := sc.Clamd.Address; a != "" {
		es = append(es, Entry{Scanner: &Clamd{Addr: a, Timeout: sc.Clamd.Timeout.Duration},
			MaxSize: int64(sc.Clamd.MaxSize), SizeKey: "scan.clamd.max_size", Key: "scan.clamd", OnFailure: Policy(sc.Clamd.OnFailure)})
	}
	for _, a := range sc.Milter.Addresses {
		m, err := NewMilter(a, sc.Milter.Timeout.Duration, host)
		if err != nil {
			return nil, fmt.Errorf("scan.milter.addresses: %w", err)
		}
		es = append(es, Entry{Scanner: m, MaxSize: int64(sc.Milter.MaxSize), SizeKey: "scan.milter.max_size", Key: "scan.milter",
			OnFailure: Policy(sc.Milter.OnFailure)})
	}
	if a := sc.Spamd.Address; a != "" {
		es = append(es, Entry{Scanner: &Spamd{Addr: a, Timeout: sc.Spamd.Timeout.Duration, User: sc.Spamd.User},
			MaxSize: int64(sc.Spamd.MaxSize), SizeKey: "scan.spamd.max_size", Key: "scan.spamd", OnFailure: Policy(sc.Spamd.OnFailure),
			RejectScore: sc.Spamd.RejectScore})
	}
	if a := sc.Rspamd.Address; a != "" {
		es = append(es, Entry{Scanner: NewRspamd(a, sc.Rspamd.Timeout.Duration, sc.Rspamd.Password),
			MaxSize: int64(sc.Rspamd.MaxSize), SizeKey: "scan.rspamd.max_size", Key: "scan.rspamd", OnFailure: Policy(sc.Rspamd.OnFailure)})
	}
	return es, nil
}

// OptionsFromConfig is the engine's options from scan.*.
func OptionsFromConfig(cfg *config.Config, m *Metrics, lg *slog.Logger) Options {
	return Options{
		Parallel:        cfg.Scan.Parallel,
		TotalTimeout:    cfg.Scan.TotalTimeout.Duration,
		BreakerFailures: cfg.Scan.BreakerFailures,
		BreakerInterval: cfg.Scan.BreakerInterval.Duration,
		Metrics:         m,
		Logger:          lg,
	}
}

// SelectFor is which scanners a message gets: everything, or for an
// authenticated submission what scan.submission says.
func SelectFor(cfg *config.Config, authenticated bool) Select {
	if !authenticated {
		return All
	}
	s := cfg.Scan.Submission
	return Select{Virus: s.Virus, Spam: s.Spam, Filter: s.Milter}
}

// configError is a config that names no usable scanner: ebb scan exits 78.
type configError struct{ error }

func (configError) ExitCode() int { return diag.ExConfig }

// ScanFile is ebb scan MESSAGE: the message at path through the scanners
// cfg names, selected as for msg.User (an authenticated submission or
// not), every scanner asked (no circuit breaker). A message without a
// recipient gets postmaster@ this host (milters expect one). The entries
// are returned for spamd's REPORT (WriteSpamdReports). A missing message
// is 66; no scanner, or a scanner setting that does not parse, is 78.
func ScanFile(ctx context.Context, cfg *config.Config, msg *Message, path string) (*Report, []Entry, error) {
	path, _ = filepath.Abs(path)
	if _, err := os.Stat(path); err != nil {
		d := diag.PathError("", "open", "read the message", path, err, nil)
		d.Exit = diag.ExNoInput
		return nil, nil, d
	}
	host := cfg.Server.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	entries, err := FromConfig(cfg, host)
	if err != nil {
		return nil, nil, configError{err}
	}
	if len(entries) == 0 {
		return nil, nil, configError{errors.New("no scanner is configured (scan.clamd.address, scan.spamd.address, scan.rspamd.address, scan.milter.addresses)")}
	}
	if len(msg.Rcpts) == 0 {
		msg.Rcpts = []string{"postmaster@" + host}
	}
	o := OptionsFromConfig(cfg, nil, slog.New(slog.DiscardHandler))
	o.BreakerFailures = 0
	msg.Path = path
	return New(entries, o).Scan(ctx, msg, SelectFor(cfg, msg.User != "")), entries, nil
}
