package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ebbmail/ebb/internal/cluster"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetch"
	"github.com/ebbmail/ebb/internal/fetchstate"
	"github.com/ebbmail/ebb/internal/journal"
	"github.com/ebbmail/ebb/internal/logging"
	"github.com/ebbmail/ebb/internal/mailuser"
	"github.com/ebbmail/ebb/internal/queue"
)

// fetchSink queues fetched mail as SMTP mail is queued, with the loop
// check and the scanners as checks (message authentication is for SMTP
// clients: a fetched message has no SMTP client to judge). It is the
// fetcher's fetch.Local: the mailbox's pre-check, the queue's outcomes,
// and the notices of skipped messages.
type fetchSink struct {
	*receiver // the hand-off (receive.go): queue.Receiver, with fetch's checks
	cfg       *config.Config
	dir       directory.Resolver
	outcomes  *fetchOutcomes
	hostname  string
}

// Ready is the local delivery's own refusal of the mailbox (unknown,
// disabled, impossible: the account's trouble, every message stays on the
// server) and of a message of size bytes that does not fit its quota:
// under mail.over_quota = permanent that message is skipped; under
// "temporary" it waits on the server, fetched once it fits (rather than
// in the queue, where it would expire).
func (s *fetchSink) Ready(ctx context.Context, rcpt string, size int64) error {
	res, err := s.dir.Resolve(ctx, rcpt)
	if err != nil {
		return err
	}
	if res.Unknown() {
		e := diag.New("lookup", "deliver to", rcpt, errors.New("no such mailbox here any more"))
		e.Class = diag.Permanent
		e.Hint = "point the account at a hosted mailbox: ebb fetch remove, then ebb fetch add --to"
		return e
	}
	for _, mb := range res.Mailboxes {
		top, setting, e := deliver.MailboxMaildir(s.cfg, mb, "ebb serve")
		if e != nil {
			return e
		}
		if e := deliver.QuotaProblem(s.cfg, "ebb serve", mb, top, setting, size); e != nil {
			return e
		}
	}
	return nil
}

func (s *fetchSink) Queued(id string) bool {
	_, ok := s.q.Lookup(id)
	return ok
}

func (s *fetchSink) Settled() <-chan struct{} { return s.outcomes.settled() }

// fetchOutcomes records, for every fetched message, how the queue ended
// its delivery (directory.RecordFetchOutcome), so that the fetcher
// removes a server copy only once its message is delivered, and skips
// (and tells about) one the queue refused or gave up on. It runs as the
// queue's observer, on the delivering goroutine and before the queue
// forgets the message: a crash before the record delivers it again (the
// queue's own crash rule), never loses the outcome.
type fetchOutcomes struct {
	st  *fetchstate.Store
	log func(msg string, args ...any)

	mu   sync.Mutex
	wake chan struct{}
}

func newFetchOutcomes(st *fetchstate.Store, log func(msg string, args ...any)) *fetchOutcomes {
	return &fetchOutcomes{st: st, log: log, wake: make(chan struct{})}
}

func (o *fetchOutcomes) settled() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.wake
}

func (o *fetchOutcomes) observe(e queue.Event) {
	if !strings.HasPrefix(e.Session, fetchSession) {
		return
	}
	// reason is the whole sentence (ebb fetch list, the log); public is
	// what the notice tells people (fetch.PublicReason: no local path).
	var outcome, reason, public, ref string
	switch e.Kind {
	case queue.EvDelivered:
		outcome = fetchstate.OutcomeDelivered
	case queue.EvFailed, queue.EvExpired:
		outcome = fetchstate.OutcomeRefused
		if e.Error != nil {
			reason, public, ref = e.Error.Sentence(), fetch.PublicReason(e.Error), e.Error.Ref
		}
	case queue.EvDeferred:
		outcome = fetchstate.OutcomeDeferred
		if e.Error != nil {
			reason, public, ref = "it waits in the queue: "+e.Error.Sentence(), "it waits in the queue: "+fetch.PublicReason(e.Error), e.Error.Ref
		}
	case queue.EvRemoved:
		if e.Note == "done" {
			return
		}
		outcome, reason = fetchstate.OutcomeRefused, "it was removed from the queue ("+e.Note+") before it was delivered"
		public = "it was removed from the queue here before it was delivered"
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.st.RecordFetchOutcome(ctx, e.QueueID, outcome, reason, public, ref); err != nil {
		o.log("cannot record how a fetched message's delivery ended: its server copy stays, and it is reported as skipped at the next pass",
			"queue_id", e.QueueID, "outcome", outcome, "err", err)
	}
	o.mu.Lock()
	close(o.wake)
	o.wake = make(chan struct{})
	o.mu.Unlock()
}

// fetchSession starts the SessionID of fetched mail (fetch.take).
const fetchSession = "fetch:"

// startFetchOutcomes makes the queue report to fetchOutcomes: whenever
// the queue runs (ebb serve, ebb fetch run), fetch.enabled or not, since
// the spool may hold messages an earlier run fetched.
func (d *daemon) startFetchOutcomes() *fetchOutcomes {
	o := newFetchOutcomes(fetchstate.New(d.dir), d.log.Error)
	d.q.AddObserver(o.observe)
	return o
}

// fetchSink hands fetched mail to recv (the SMTP server's, in ebb serve).
func (d *daemon) fetchSink(recv *receiver, o *fetchOutcomes) *fetchSink {
	host := d.cfg.Server.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	return &fetchSink{receiver: recv, cfg: d.cfg, dir: d.dir, outcomes: o, hostname: host}
}

func (d *daemon) fetcher(sink *fetchSink) *fetch.Fetcher {
	f := &fetch.Fetcher{Cfg: d.cfg.Fetch, Store: fetchstate.New(d.dir), Sink: sink, Hostname: sink.hostname, Log: d.log.With("component", "fetch"),
		MaxMessageSize: int64(d.cfg.SMTP.MaxMessageSize), Setting: d.cfg.Setting}
	var skipped *prometheus.CounterVec
	if d.metrics != nil {
		attempts := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_fetch_attempts_total",
			Help: "Fetch passes by account and outcome (ok, or the cause: dns, connect, timeout, tls, login, token, token-revoked, folder, mailbox, uidvalidity, local, server, internal).",
		}, []string{"account", "outcome"})
		msgs := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_fetch_messages_total",
			Help: "Messages fetched into the queue, by account.",
		}, []string{"account"})
		skipped = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_fetch_skipped_total",
			Help: "Fetched messages refused here (a local permanent refusal, or the queue gave up): they stay on the server, and the mailbox owner and the postmaster are told. ebb fetch list shows them.",
		}, []string{"account"})
		d.metrics.Registry.MustRegister(attempts, msgs, skipped)
		f.Observe = func(account, cause string, res fetch.Result) {
			if cause == "" {
				cause = "ok"
			}
			attempts.WithLabelValues(account, cause).Inc()
			msgs.WithLabelValues(account).Add(float64(res.Fetched))
		}
	}
	f.Skipped = func(a *fetchstate.FetchAccount, m fetchstate.FetchedMessage) {
		if skipped != nil {
			skipped.WithLabelValues(a.Name).Inc()
		}
		d.journalFetchSkip(a, m)
	}
	return f
}

// journalFetchSkip tells ebb explain about a skipped message: under its
// queue id when it was queued (after the queue's own story), else under
// the reference of its refusal.
func (d *daemon) journalFetchSkip(a *fetchstate.FetchAccount, m fetchstate.FetchedMessage) {
	if d.jr == nil {
		return
	}
	id := m.QueueID
	if id == "" {
		id = m.Ref
	}
	e := &diag.Error{Component: fetch.Component + " " + a.Name, Op: "fetch", Reason: m.Reason, Ref: m.Ref, Class: diag.Permanent}
	d.jr.append(journal.Record{Time: time.Now().UTC(), Event: "fetch-skipped", QueueID: id, Rcpt: a.Mailbox, Size: m.Size,
		Error: e, Detail: fmt.Sprintf("- a message fetched from %s (account %s, %s %s) was not delivered here and stays on that server; the mailbox owner and the postmaster are told. %s",
			a.Host+fmt.Sprintf(":%d", a.Port), a.Name, folderOf(a, m), m.UID, m.Summary)})
}

func folderOf(a *fetchstate.FetchAccount, m fetchstate.FetchedMessage) string {
	if a.Protocol == "pop3" {
		return "UIDL"
	}
	return "folder " + m.Folder + ", UID"
}

// startFetch runs the fetch accounts until ctx ends (fetch.enabled).
func (d *daemon) startFetch(ctx context.Context, o *fetchOutcomes) {
	if !d.cfg.Fetch.Enabled {
		return
	}
	r := &fetch.Runner{F: d.fetcher(d.fetchSink(d.recv, o)), Accounts: fetchstate.New(d.dir).FetchAccounts}
	r.Leases, r.LeaseLook = d.fetchLeases() // cluster.go: one host at a time per account
	d.fetchRunner = r                       // SIGHUP reads the account list again (reload.go)
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
	// Run as root, what the directory creates belongs to the mail user.
	owner, err := mailuser.ForRoot(cfg)
	if err != nil {
		fmt.Fprintln(o.Stderr, diag.From(err, "ebb fetch run", "user").Sentence())
		return diag.ExConfig
	}
	dir, err := directory.OpenWith(ctx, cfg, directory.Options{Owner: owner})
	if err != nil {
		fmt.Fprintln(o.Stderr, diag.From(err, "ebb fetch run", "open").Sentence())
		return diag.ExTempFail
	}
	d.dir = dir
	defer dir.Close()
	if cluster.Enabled(cfg) {
		// Several hosts: an account another host fetches is left to it
		// (its lease), and the journal is the one they share.
		c, err := cluster.Open(ctx, dir, cluster.HostName(cfg), lg.Logger)
		if err != nil {
			fmt.Fprintln(o.Stderr, diag.From(err, "ebb fetch run", "open").Sentence())
			return diag.ExTempFail
		}
		d.cluster = c
	}
	d.startJournal()
	defer d.stopJournal()
	leases, _ := d.fetchLeases()

	var accounts []*fetchstate.FetchAccount
	if len(o.Accounts) == 0 {
		all, err := fetchstate.New(dir).FetchAccounts(ctx)
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
			a, err := fetchstate.New(dir).FetchAccount(ctx, n)
			if err != nil {
				fmt.Fprintf(o.Stderr, "ebb fetch run: %v\n", err)
				return diag.ExNoUser
			}
			accounts = append(accounts, a)
		}
	}

	outcomes := d.startFetchOutcomes()
	runCtx, stopRun := context.WithCancel(context.Background())
	queueDone := make(chan error, 1)
	go func() { queueDone <- q.Run(runCtx, d.transports()) }()
	defer func() {
		stopRun()
		<-queueDone
	}()

	f := d.fetcher(d.fetchSink(d.newReceiver(nil), outcomes))
	// In the foreground the run waits for the queue as long as one
	// delivery may take, so that what it delivers loses its server copy
	// in this run.
	f.SettleWait = cfg.Queue.AttemptTimeout.Duration
	code := 0
	for _, a := range accounts {
		var p fetch.Progress
		if o.Progress != nil {
			p = o.Progress()
		}
		actx := ctx
		if leases != nil {
			l, holder, err := leases.Acquire(ctx, a.Name)
			if l == nil {
				why := "fetched by " + holder + " (its lease)"
				if err != nil {
					why = diag.From(err, "ebb fetch run", "lease").Sentence()
					code = diag.ExTempFail
				}
				fmt.Fprintf(o.Stdout, "%s: not fetched here: %s\n", a.Name, why)
				continue
			}
			actx = l.Context()
			defer l.Release()
		}
		res, err := f.Once(actx, a, p)
		if b, ok := p.(interface{ Finish() }); ok {
			b.Finish()
		}
		if err != nil {
			fmt.Fprintln(o.Stderr, a.Status.Text)
			code = diag.ExTempFail
		}
		fmt.Fprintf(o.Stdout, "%s: %d fetched, %d already delivered, %d removed from the server, %d skipped (left on the server, owner told), %d waiting in the queue\n",
			a.Name, res.Fetched, res.Known, res.Removed, res.Skipped, res.Waiting)
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
