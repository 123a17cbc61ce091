package scan

import (
	"fmt"
	"log/slog"

	"github.com/ebbmail/ebb/internal/config"
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
