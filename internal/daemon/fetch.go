package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetch"
	"github.com/ebbmail/ebb/internal/logging"
	"github.com/ebbmail/ebb/internal/queue"
)

// fetchSink queues fetched mail as SMTP mail is queued, with the
// scanners as checks (message authentication is for SMTP clients: a
// fetched message has no SMTP client to judge).
type fetchSink struct {
	q      *queue.Queue
	checks []checker
	cfg    *config.Config
	dir    directory.Resolver
}

// Ready is the local delivery's own refusal (a disabled or impossible
// mailbox), and a full mailbox whatever mail.over_quota says: fetched mail
// must not wait in the queue until it expires (its sender is <>, so it
// would vanish); it stays on the server instead.
func (s fetchSink) Ready(ctx context.Context, rcpt string) error {
	res, err := s.dir.Resolve(ctx, rcpt)
	if err != nil {
		return err
	}
	if res.Unknown() {
		e := diag.New("lookup", "deliver to", rcpt, errors.New("no such mailbox here any more"))
		e.Hint = "point the account at a hosted mailbox: ebb fetch remove, then ebb fetch add --to"
		return e
	}
	strict := *s.cfg
	strict.Mail.OverQuota = "permanent"
	if e := deliver.Refusal(&strict, res); e != nil {
		return e
	}
	return nil
}

func (s fetchSink) Receive(ctx context.Context, env *queue.Envelope, data io.Reader) (string, error) {
	if len(s.checks) > 0 {
		in := checkInput{TLS: env.Proto == "IMAPS" || env.Proto == "POP3S"}
		env.Check = func(ctx context.Context, qm *queue.Message) (string, error) {
			in.Msg = qm
			return runChecks(ctx, s.checks, &in)
		}
	}
	return s.q.Receive(ctx, env, data)
}

func (d *daemon) fetcher(sink fetch.Sink) *fetch.Fetcher {
	host := d.cfg.Server.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	f := &fetch.Fetcher{Cfg: d.cfg.Fetch, Store: d.dir, Sink: sink, Hostname: host, Log: d.log.With("component", "fetch")}
	if d.metrics != nil {
		attempts := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_fetch_attempts_total",
			Help: "Fetch passes by account and outcome (ok, or the cause: dns, connect, timeout, tls, login, token, token-revoked, folder, uidvalidity, local, server).",
		}, []string{"account", "outcome"})
		msgs := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_fetch_messages_total",
			Help: "Messages fetched into the queue, by account.",
		}, []string{"account"})
		d.metrics.Registry.MustRegister(attempts, msgs)
		f.Observe = func(account, cause string, delivered int) {
			if cause == "" {
				cause = "ok"
			}
			attempts.WithLabelValues(account, cause).Inc()
			msgs.WithLabelValues(account).Add(float64(delivered))
		}
	}
	return f
}

// startFetch runs the fetch accounts until ctx ends (fetch.enabled).
func (d *daemon) startFetch(ctx context.Context) {
	if !d.cfg.Fetch.Enabled {
		return
	}
	r := &fetch.Runner{F: d.fetcher(fetchSink{q: d.q, checks: d.scanCheckers(), cfg: d.cfg, dir: d.dir}), Accounts: d.dir.FetchAccounts}
	go r.Run(ctx)
}

// FetchRunOptions is what ebb fetch run passes.
type FetchRunOptions struct {
	ConfigPath string
	Accounts   []string // empty: every enabled account
	Progress   func() fetch.Progress
	Stdout     io.Writer
	Stderr     io.Writer
}

// FetchRun is ebb fetch run: one pass over the accounts in the
// foreground, into the queue, and local delivery of what it queued; it
// needs the spool, so it refuses while ebb serve runs (which fetches the
// accounts itself). It returns the exit code.
func FetchRun(ctx context.Context, o FetchRunOptions) int {
	cfg, err := config.Load(o.ConfigPath)
	if err != nil {
		fmt.Fprintln(o.Stderr, diag.From(err, "ebb fetch run", "config").Sentence())
		return diag.ExConfig
	}
	lg, err := logging.New(o.Stderr, cfg.Log.Format, "error")
	if err != nil {
		fmt.Fprintln(o.Stderr, "ebb fetch run:", err)
		return diag.ExConfig
	}
	d := &daemon{ctx: ctx, stdout: o.Stdout, stderr: o.Stderr, cfg: cfg, log: lg}
	q, err := queue.Open(cfg, lg.With("component", "queue"))
	if err != nil {
		de := diag.From(err, "ebb fetch run", "open")
		fmt.Fprintln(o.Stderr, de.Sentence())
		fmt.Fprintln(o.Stderr, "ebb fetch run: while ebb serve holds the spool it fetches the accounts itself (every fetch.interval, or at once with IDLE); ebb fetch list shows each account's last status")
		return diag.ExTempFail
	}
	d.q = q
	defer q.Close()
	dir, err := directory.Open(ctx, cfg)
	if err != nil {
		fmt.Fprintln(o.Stderr, diag.From(err, "ebb fetch run", "open").Sentence())
		return diag.ExTempFail
	}
	d.dir = dir
	defer dir.Close()

	var accounts []*directory.FetchAccount
	if len(o.Accounts) == 0 {
		all, err := dir.FetchAccounts(ctx)
		if err != nil {
			fmt.Fprintln(o.Stderr, diag.From(err, "ebb fetch run", "list").Sentence())
			return diag.ExTempFail
		}
		for _, a := range all {
			if a.Enabled {
				accounts = append(accounts, a)
			}
		}
	} else {
		for _, n := range o.Accounts {
			a, err := dir.FetchAccount(ctx, n)
			if err != nil {
				fmt.Fprintf(o.Stderr, "ebb fetch run: %v\n", err)
				return diag.ExNoUser
			}
			accounts = append(accounts, a)
		}
	}

	runCtx, stopRun := context.WithCancel(context.Background())
	queueDone := make(chan error, 1)
	go func() { queueDone <- q.Run(runCtx, d.transports()) }()
	defer func() {
		stopRun()
		<-queueDone
	}()

	f := d.fetcher(fetchSink{q: q, checks: d.scanCheckers(), cfg: cfg, dir: dir})
	code := 0
	for _, a := range accounts {
		var p fetch.Progress
		if o.Progress != nil {
			p = o.Progress()
		}
		res, err := f.Once(ctx, a, p)
		if b, ok := p.(interface{ Finish() }); ok {
			b.Finish()
		}
		if err != nil {
			fmt.Fprintln(o.Stderr, a.Status.Text)
			code = diag.ExTempFail
		}
		fmt.Fprintf(o.Stdout, "%s: %d fetched, %d already delivered, %d removed from the server\n", a.Name, res.Delivered, res.Skipped, res.Removed)
	}
	// Deliver what was queued before the spool is released; what is
	// deferred stays for ebb serve.
	deadline := time.Now().Add(cfg.Queue.AttemptTimeout.Duration)
	for time.Now().Before(deadline) {
		if q.Stats().Depth[queue.Pending] == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return code
}
