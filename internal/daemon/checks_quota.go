package daemon

import (
	"context"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/sievefilter"
)

// quotaChecker refuses at the end of DATA a message that the local
// delivery would bounce for a quota: one larger than a local recipient's
// whole quota (its mailbox's own, else mail.quota), whatever
// mail.over_quota says, and under mail.over_quota = "permanent" one that
// the mailbox's fill leaves no room for. deliver.Refusal is the delivery's
// own check, given the size the delivery would store (the message with LF
// line ends, the Received line, the earlier checks' lines and
// Delivered-To: deliver.Agent.MeasureStaged, which reads the message's
// header, and its body only where the size would be refused). It runs last, so that every
// line the checks add is counted. RCPT made the same check with the
// client's SIZE=, when it declared one.
//
// The DATA reply is one for the whole transaction (SMTP has no reply per
// recipient after DATA, unlike LMTP): a message that one recipient's
// mailbox can never take is refused for all of them (552 5.2.2, with the
// delivery's words), like the loop check. Accepting it would mean
// bouncing it later for that recipient (principle 4: what would fail
// permanently is refused while the peer is connected); the sender's
// server tells the sender, who can send it again to the others. A client
// that declares SIZE= meets this at RCPT instead, for that recipient
// alone, and the others get the message. Remote recipients are left to
// the relay.
//
// A mailbox whose Sieve scripts would discard or redirect the message
// stores nothing and is not refused: where a refusal is about to be made
// (rare), the scripts run on the copy as a dry run (sieve, as ebb route
// runs them: nothing created, sent or remembered), and the refusal stands
// only for a mailbox they would store it in, judged by the size of the
// copy they would store (a header edited by editheader; an edit that makes
// a copy that fits too large is not seen: deliver.SieveRefusal).
//
// Scripts that cannot be run so (the copy cannot be staged in
// server.data_dir, the filter fails) leave the refusal standing (fails
// closed: the delivery would run them too), said in the refusal's record
// (its Reason), the log and ebb_quota_sieve_unconsulted_total.
type quotaChecker struct {
	cfg   *config.Config
	dir   directory.Resolver
	sieve deliver.Filter // nil: Sieve is off
	log   *slog.Logger
	// unconsulted counts refusals made without the scripts' dry run;
	// nil outside ebb serve.
	unconsulted prometheus.Counter
	skipped     uncheck // checks_loop.go: a recipient not checked
	// cached counts quotas decided on the cached mailbox (at="data");
	// nil outside ebb serve.
	cached *prometheus.CounterVec
}

func (d *daemon) quotaCheckers() []checker {
	c := quotaChecker{cfg: d.cfg, dir: d.dir, log: d.log.With("component", "quota"), unconsulted: d.quotaUnconsulted, skipped: d.uncheck("quota"),
		cached: d.quotaCached}
	if f := d.dryRunSieve(); f != nil {
		c.sieve = f
	}
	return []checker{c}
}

// dryRunSieve is the mailboxes' Sieve scripts run as ebb route runs them
// (nothing created, sent or remembered), made once; nil when Sieve is off.
type dryRunSieve struct {
	once sync.Once
	f    *sievefilter.Filter
}

func (d *daemon) dryRunSieve() *sievefilter.Filter {
	s := &d.quotaSieve
	s.once.Do(func() {
		if !d.cfg.Sieve.Enabled {
			return
		}
		var state sievefilter.State
		if d.cluster != nil {
			state = d.cluster.SieveState() // only read in a dry run
		}
		s.f = sievefilter.NewDryRun(d.cfg, d.log.With("component", "sieve", "dry_run", "quota"), state)
	})
	return s.f
}

func (quotaChecker) name() string { return "quota" }

func (c quotaChecker) check(ctx context.Context, in *checkInput) (string, error) {
	m := in.Msg
	var size *deliver.StagedSize
	var unmeasured error
	measured := false
	skipped := c.skipped.on(in)
	return "", eachLocal(ctx, c.dir, m.Envelope.Recipients, skipped, func(r string, res *directory.Resolution) *diag.Error {
		// The quotas as the directory holds them now, not as its cache
		// remembers them, so that a quota raised or removed stops
		// refusing at once, and one set where there was none refuses at
		// once (the cached resolution, without it, cannot say that no
		// quota matters): a change check, no query while nothing
		// changed (directory.Directory.MailboxNow), as each delivery
		// makes anyway.
		res = deliver.Fresh(ctx, c.dir, res, cachedQuota(c.log, c.cached, "data", func(n string) { in.note("quota", n) }, "queue_id", m.ID, "rcpt", r))
		if !deliver.SizeMatters(c.cfg, res) {
			return nil
		}
		if !measured {
			// Once for all recipients: only Delivered-To differs. The
			// header is read; the body only where the bound is refused.
			measured = true
			a := &deliver.Agent{Cfg: c.cfg, Component: "ebb serve"}
			size, unmeasured = a.MeasureStaged(m.File, deliver.Envelope{Sender: m.From(), Prefix: []byte(m.Prefix() + in.Header.String()),
				Folder: m.Envelope.Folder, StripAuthResults: c.cfg.AuthservID(), RenameVerdicts: true}, m.Size)
		}
		if size == nil || unmeasured != nil {
			// Unreadable: the delivery will say why; this check only
			// refuses, and says it was not made.
			skipped(r, "unreadable", unmeasured)
			return nil
		}
		e, err := deliver.SieveRefusal(ctx, c.cfg, res, size, r, c.sieve, c.cfg.Server.DataDir) // 552 5.2.2, the bounce's own words
		if e == nil && err != nil {
			skipped(r, "unreadable", err) // the copy could not be measured
		} else if err != nil {
			c.log.Warn("quota: the mailbox's Sieve scripts could not be consulted: the message is refused as if they stored it",
				"queue_id", m.ID, "rcpt", r, "ref", e.EnsureRef(), "data_dir", c.cfg.Server.DataDir, "err", err.Error())
			if c.unconsulted != nil {
				c.unconsulted.Inc()
			}
		}
		return e
	})
}

// cachedQuota is deliver.Fresh's stale for at (rcpt, data): a quota
// decided on the mailbox as the resolution cache remembers it, because the
// directory could not read it now, is said (principle 7) in a log line
// (with attrs), ebb_quota_cached_total{at} (count, nil: not counted) and,
// where the message has a record, note (nil: none yet).
func cachedQuota(log *slog.Logger, count *prometheus.CounterVec, at string, note func(string), attrs ...any) func(address string, err error) {
	return func(address string, err error) {
		if log != nil {
			log.Warn("quota decided on the cached mailbox: the directory could not read it now",
				append([]any{"at", at, "mailbox", address, "err", err.Error()}, attrs...)...)
		}
		if count != nil {
			count.WithLabelValues(at).Inc()
		}
		if note != nil {
			note(deliver.CachedQuotaNote(address, err))
		}
	}
}
