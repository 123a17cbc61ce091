package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/acme"
	"github.com/ebbmail/ebb/internal/cluster"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetch"
	"github.com/ebbmail/ebb/internal/policy"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/tide"
)

// Several hosts on one PostgreSQL directory (docs/scaling.md): with
// directory.shared_state, the daemon keeps in that database what the
// hosts must share (internal/cluster) — Sieve state, AUTH counts, the
// journal, its queue's summary, fetch leases — and says it is alive. With
// SQLite, or shared_state off, none of this starts: d.cluster stays nil
// and every part keeps its state under server.data_dir as before.

// startCluster opens the shared state and registers this host. An error
// stops the start: a host that believed itself alone would answer
// vacation twice and give guessers a fresh budget, silently.
func (d *daemon) startCluster(ctx context.Context, dir *directory.Directory) error {
	if !cluster.Enabled(d.cfg) {
		return nil
	}
	c, err := cluster.Open(ctx, dir, cluster.HostName(d.cfg), d.log.With("component", "cluster"))
	if err != nil {
		return err
	}
	if d.cfg.Mail.DeliveryHost == "" {
		// This host stores Maildirs: its mark in mail.root tells doctor
		// on the others whether they write the same storage.
		if err := c.MarkMailRoot(d.cfg.Mail.Root); err != nil {
			d.log.Warn("shared state: cannot leave this host's mark in mail.root; doctor on other hosts cannot tell whether it is their storage too",
				"dir", d.cfg.Mail.Root, "err", err)
		}
	}
	if err := c.Register(ctx, d.facts()); err != nil {
		return err
	}
	d.cluster = c
	d.log.Info("shared state: this host shares Sieve state, AUTH counts, the journal and its queue summary with the others",
		"host", c.Host(), "database", c.Where())
	return nil
}

// runClusterKeeper starts the heartbeat with the queue's summary.
func (d *daemon) runClusterKeeper(ctx context.Context) {
	if d.cluster == nil {
		return
	}
	spool := d.q.Spool()
	summary := func() any {
		l, err := queue.List(spool)
		return tide.Summarize(d.q.Stats(), l, err, time.Now())
	}
	go d.cluster.Keeper(ctx, summary, d.cfg.Journal.Retention.Duration)
}

// authStore is where AUTH failures are counted: the shared database, or
// (nil) this process's memory.
func (d *daemon) authStore() policy.AuthStore {
	if d.cluster == nil {
		return nil
	}
	return d.cluster.AuthStore()
}

// rate is submission's hourly limit of limit messages, counted under
// name in the shared database when there is one (every host together).
func (d *daemon) rate(name string, limit int) *policy.Rate {
	r := policy.NewRate(limit, time.Hour)
	if d.cluster != nil {
		r.Store, r.Name = d.cluster.RateStore(), name
	}
	return r
}

// fetchLeases are the leases on fetch accounts (nil: one host fetches
// every account) and how often to look for a free one.
func (d *daemon) fetchLeases() (fetch.Leaser, time.Duration) {
	if d.cluster == nil {
		return nil, 0
	}
	ttl := d.cfg.Fetch.Lease.Duration
	return leaser{d.cluster.FetchLeases(ttl)}, ttl / 5
}

// leaser is cluster.Leases as a fetch.Leaser.
type leaser struct{ l *cluster.Leases }

func (l leaser) Acquire(ctx context.Context, account string) (fetch.Lease, string, error) {
	ls, holder, err := l.l.Acquire(ctx, account)
	if ls == nil {
		return nil, holder, err // not a typed nil: the runner tests the interface
	}
	return ls, holder, err
}

// otherHosts are the page's view of the other hosts (nil without shared
// state).
func (d *daemon) otherHosts() func() []tide.HostView {
	if d.cluster == nil {
		return nil
	}
	return func() []tide.HostView {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs, err := d.cluster.HostViews(ctx)
		if err != nil {
			return []tide.HostView{{Name: "?", State: err.Error()}}
		}
		return hs
	}
}

// facts are what this host tells the others (cluster.Facts), for doctor.
func (d *daemon) facts() cluster.Facts {
	cfg := d.cfg
	f := cluster.Facts{DeliveryHost: cfg.Mail.DeliveryHost, MailRoot: cfg.Mail.Root,
		Fetch: cfg.Fetch.Enabled, FetchLeases: true, Page: cfg.Metrics.Listen, SMTP: cfg.SMTP.Listen}
	if cfg.SRS.Enable {
		if secrets, err := d.srsSecrets(d.srsSecretPath()); err == nil && len(secrets) > 0 {
			f.SRS = digest([]byte(secrets[0]))
		}
	}
	if cfg.DKIM.Sign {
		keys, _ := filepath.Glob(filepath.Join(cfg.DKIMKeyDir(), "*", "*.pem"))
		for _, k := range keys {
			b, err := os.ReadFile(k)
			if err != nil {
				continue
			}
			sel := strings.TrimSuffix(filepath.Base(k), ".pem")
			f.DKIM = append(f.DKIM, fmt.Sprintf("%s %s %s", filepath.Base(filepath.Dir(k)), sel, digest(b)))
		}
		sort.Strings(f.DKIM)
	}
	if cfg.ACME.Enable {
		f.ACME = acme.ServerNames(cfg)
	}
	// Facts.PerHost stays empty: submission's limits are counted in the
	// shared database (rateStore); an older host still publishes its own.
	return f
}

// digest names a secret without telling it: the first 8 bytes of its
// SHA-256, enough to see that two hosts hold different ones.
func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}
