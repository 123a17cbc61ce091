// Package daemon assembles ebb serve: which parts run and how they are
// wired. A message walks smtpd → queue → (deliver | relay) through here;
// components never import this package, and cmd/ebb only parses flags and
// calls Run.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ebbmail/ebb/internal/acme"
	"github.com/ebbmail/ebb/internal/cluster"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetch"
	"github.com/ebbmail/ebb/internal/logging"
	"github.com/ebbmail/ebb/internal/metrics"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/relay"
	"github.com/ebbmail/ebb/internal/smtpd"
	"github.com/ebbmail/ebb/internal/srs"
	"github.com/ebbmail/ebb/internal/wellknown"
)

// Options is what cmd/ebb serve passes from its flags.
type Options struct {
	ConfigPath string // -c; "" is config.DefaultPath
	Demo       bool   // --demo: write and use a demo config under DemoDir
	DemoDir    string
	DemoListen string // --demo-listen: the SMTP address instead of the demo config's
	Stdout     io.Writer
	Stderr     io.Writer
}

// Run is ebb serve: the daemon. It wires config → logging → sockets (bound
// as root) → privileges dropped to server.user → queue (which takes the
// spool lock) → directory → local delivery → SMTP listeners → metrics, and
// runs until ctx ends (SIGTERM/SIGINT). SIGHUP reloads the config and the
// certificates. It returns the exit code.
func Run(ctx context.Context, o Options) int {
	if o.Demo {
		p, err := writeDemoConfig(o.DemoDir)
		if err != nil {
			fmt.Fprintln(o.Stderr, diag.From(err, "ebb serve", "demo").Sentence())
			return diag.ExCantCreat
		}
		o.ConfigPath = p
	}
	cfg, ok := loadConfig(o.ConfigPath, o.Stderr)
	if !ok {
		return diag.ExConfig
	}
	if o.Demo && o.DemoListen != "" {
		cfg.SMTP.Listen = []string{o.DemoListen}
	}
	lg, err := logging.New(o.Stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		fmt.Fprintln(o.Stderr, "ebb serve:", err)
		return diag.ExConfig
	}
	d := &daemon{ctx: ctx, stdout: o.Stdout, stderr: o.Stderr, cfgPath: o.ConfigPath, cfg: cfg, log: lg, demo: o.Demo}
	d.sieveSkipped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ebb_sieve_scripts_skipped_total",
		Help: "Sieve scripts skipped at a delivery, by why: missing (a sieve.before/after script), compile or runtime (a broken script; the message is kept). The log and the delivery's record (ebb explain) say which."},
		[]string{"why"})
	d.hostedUnchecked = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ebb_auth_hosted_sender_unchecked_total",
		Help: "Messages from outside whose envelope sender failed SPF and whose hosted-sender check could not be made, let through (a fail-open), by reason: directory (the directory did not answer). The log and the message's record (ebb explain) say which."},
		[]string{"reason"})
	d.dkimUnsigned = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ebb_dkim_unsigned_total",
		Help: "Messages of ours (not from outside) that left without a DKIM signature with dkim.sign on, by reason: no key (no From: domain has a key in dkim.key_dir), no author (no From: domain). The log and each recipient's record (ebb explain) say which."},
		[]string{"reason"})
	d.checksSkipped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ebb_checks_skipped_total",
		Help: "End-of-DATA checks not made for a local recipient, the message let through (a fail-open; the delivery checks again), by check (loop, quota) and reason: directory (it did not answer for the recipient), unreadable (the message could not be measured). The log and the message's record (ebb explain) say which."},
		[]string{"check", "reason"})
	d.quotaUnconsulted = prometheus.NewCounter(prometheus.CounterOpts{Name: "ebb_quota_sieve_unconsulted_total",
		Help: "Messages refused at the end of DATA for a mailbox's quota although its Sieve scripts might have discarded or redirected them: the scripts could not be run on the message (the copy could not be staged in server.data_dir, the filter failed), so it was refused as if they stored it. The log and the refusal's record (ebb explain REF) say why."})
	d.quotaCached = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ebb_quota_cached_total",
		Help: "Quota decisions made on a mailbox as the resolution cache (directory.cache_ttl) remembers it, because the directory could not read it now, by at: rcpt (smtpd's RCPT check), data (the end-of-DATA check), delivery. The log and, where the message has one, its record (ebb explain) say which mailbox and why."},
		[]string{"at"})
	d.usageNotUpdated = prometheus.NewCounter(prometheus.CounterOpts{Name: "ebb_deliver_maildirsize_not_updated_total",
		Help: "Stored messages that maildirsize could not count (the message is delivered; the quota does not count it until the file is counted again). The log and the delivery's record (ebb explain) say which file and why."})
	d.folderFallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ebb_deliver_folder_fallbacks_total",
		Help: "Messages stored in INBOX because their folder (a Sieve fileinto, auth.quarantine_folder) could not be used, by why: name (not a usable folder name), unusable (it cannot be made or opened). The log and the delivery's record (ebb explain) say which."},
		[]string{"why"})
	code := d.run()
	if code != 0 {
		lg.Error("ebb serve stopped", "exit", code)
	}
	return code
}

// loadConfig loads the config file, saying on stderr why it cannot (the
// file:line of a bad key or value).
func loadConfig(path string, stderr io.Writer) (*config.Config, bool) {
	cfg, err := config.Load(path)
	if err != nil {
		if de, ok := diag.As(err); ok {
			fmt.Fprintln(stderr, de.Sentence())
		} else {
			fmt.Fprintln(stderr, err)
		}
		return nil, false
	}
	return cfg, true
}

type daemon struct {
	ctx     context.Context // ends at SIGTERM/SIGINT
	recv    *receiver       // the hand-off of every receiver into the queue (receive.go)
	stdout  io.Writer
	stderr  io.Writer
	cfgPath string
	cfg     *config.Config
	log     *logging.Logger
	demo    bool

	quotaSieve dryRunSieve // checks_quota.go: Sieve as a dry run, for the quota's refusals

	certs   *smtpd.Certificates
	smtpLn  []net.Listener
	metrLn  net.Listener
	q       *queue.Queue
	dir     *directory.Directory
	smtp    *smtpd.Server
	metrics *metrics.Metrics
	sub     *submission   // submission listeners and the sendmail pickup (submission.go)
	relay   *relay.Relay  // the remote transport (relay.go)
	srs     *srs.Rewriter // SRS for forwarded mail, nil when off (srs.go)
	// srsNotRewritten counts forwarded copies that left with their own
	// sender although SRS is on (ebb_srs_not_rewritten_total).
	srsNotRewritten atomic.Uint64
	// vacationNotSent counts Sieve vacation responses that could not be
	// queued (the delivery's record and the log say which).
	vacationNotSent atomic.Uint64
	// vacationFromReplaced counts Sieve vacation responses whose :from
	// the mailbox may not write as (sent from its own address instead).
	vacationFromReplaced atomic.Uint64
	scan                 scanState        // the scan engine, built once for every path mail enters by (checks_scan.go)
	fetchRunner          *fetch.Runner    // nil unless fetch.enabled (fetch.go)
	jr                   *journalRecorder // the journal of every message's events, nil when off (journal.go)
	cluster              *cluster.Cluster // state shared with the other hosts, nil with SQLite (cluster.go)
	dryRun               bool             // ebb route: decide as the daemon would, change nothing (route.go)
	acme                 *acme.Manager    // certificates from ACME, nil when off (acme.go)
	web                  *wellknown.Server
	webTLS, webHTTP      []net.Listener // web.listen, web.listen_http (web.go)
	rep                  *reportState   // TLS-RPT and DMARC reports, nil when off (reports.go)

	// sieveSkipped counts Sieve scripts skipped at deliveries, by why
	// (sievefilter.Filter.Skipped): the log and the delivery's record say
	// which.
	sieveSkipped *prometheus.CounterVec
	// hostedUnchecked counts hosted-sender checks not made (a fail-open;
	// checks_auth.go), by reason; nil outside ebb serve.
	hostedUnchecked *prometheus.CounterVec
	// dkimUnsigned counts messages of ours that left unsigned (dkim.go),
	// by reason; nil outside ebb serve.
	dkimUnsigned *prometheus.CounterVec
	// checksSkipped counts end-of-DATA checks not made for a recipient
	// (checks_loop.go uncheck), by check and reason; nil outside ebb
	// serve.
	checksSkipped *prometheus.CounterVec
	// quotaUnconsulted counts quota refusals at the end of DATA made
	// without the mailbox's Sieve scripts consulted (checks_quota.go);
	// nil outside ebb serve.
	quotaUnconsulted prometheus.Counter
	// folderFallbacks counts messages stored in INBOX for a folder that
	// cannot be used (deliver.Agent.FolderFallback), by why; nil outside
	// ebb serve.
	folderFallbacks *prometheus.CounterVec
	// quotaCached counts quota decisions made on the cached mailbox
	// because the directory could not read it now (quota_cached.go), by
	// at; nil outside ebb serve.
	quotaCached *prometheus.CounterVec
	// usageNotUpdated counts stored messages maildirsize could not count
	// (deliver.Agent.UsageNotUpdated); nil outside ebb serve.
	usageNotUpdated prometheus.Counter
}

// fail prints a boundary error on stderr and logs it; it returns the exit
// code.
func (d *daemon) fail(err error, op string) int {
	de := diag.From(err, "ebb serve", op)
	fmt.Fprintln(d.stderr, de.Sentence())
	d.log.Error("cannot start", "diag", de)
	return de.ExitCode()
}

func (d *daemon) run() int {
	cfg := d.cfg
	if cfg.SMTP.TLSCert != "" {
		c, err := smtpd.LoadCertificates(cfg.SMTP.TLSCert, cfg.SMTP.TLSKey)
		if err != nil {
			de := diag.New("load", "load the TLS certificate", cfg.SMTP.TLSCert, err)
			de.Setting, de.Exit = cfg.Setting("smtp.tls_cert"), diag.ExConfig
			de.SetFix(diag.Because("smtp.tls_cert and smtp.tls_key must be PEM files readable by the user ebb starts as", diag.Command("ebb", "doctor", "-c", cfgFile(cfg))))
			return d.fail(de, "load")
		}
		d.certs = c
	}
	if err := d.acmeSTARTTLS(); err != nil {
		return d.fail(err, "acme")
	}
	if code := d.bind(); code != 0 {
		return code
	}
	defer d.closeSockets()
	if code := d.bindWeb(); code != 0 {
		return code
	}
	defer d.closeWeb()
	if code := d.bindSubmission(); code != 0 {
		return code
	}
	defer d.closeSubmission()

	who, err := d.dropPrivileges()
	if err != nil {
		return d.fail(err, "setuid")
	}

	ctx := context.Background()
	q, err := queue.Open(cfg, d.log.With("component", "queue"))
	if err != nil {
		return d.fail(err, "open")
	}
	d.q = q
	defer q.Close()

	dir, err := directory.OpenWith(ctx, cfg, directory.Options{Logger: d.log.With("component", "directory")})
	if err != nil {
		return d.fail(err, "open")
	}
	d.dir = dir
	defer dir.Close()
	if err := d.startCluster(ctx, dir); err != nil { // cluster.go: before the journal, which may write there
		return d.fail(err, "open")
	}
	d.startJournal()
	defer d.stopJournal()
	if err := d.startSRS(); err != nil {
		return d.fail(err, "srs")
	}
	if d.demo {
		if err := demoDirectory(ctx, dir); err != nil {
			return d.fail(err, "demo")
		}
	}

	memLimit := setMemoryLimit(cfg) // memory.go
	d.metrics = metrics.New()
	d.metrics.Queue(q.Stats)
	d.journalMetrics() // journal.go
	d.srsMetrics()
	d.metrics.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ebb_sieve_vacation_from_replaced_total",
		Help: "Sieve vacation responses whose :from the mailbox may not write as (submission.sender_policy): sent from the mailbox's own address (the log says which)."},
		func() float64 { return float64(d.vacationFromReplaced.Load()) }))
	d.metrics.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ebb_sieve_vacation_not_sent_total",
		Help: "Sieve vacation responses that could not be queued (the message itself is delivered; the log and the delivery's record, ebb explain, say why)."},
		func() float64 { return float64(d.vacationNotSent.Load()) }))
	d.metrics.Registry.MustRegister(d.sieveSkipped)
	d.metrics.Registry.MustRegister(d.hostedUnchecked)
	d.metrics.Registry.MustRegister(d.dkimUnsigned)
	d.metrics.Registry.MustRegister(d.folderFallbacks)
	d.metrics.Registry.MustRegister(d.quotaCached)
	d.metrics.Registry.MustRegister(d.usageNotUpdated)
	d.metrics.Registry.MustRegister(d.quotaUnconsulted)
	d.metrics.Registry.MustRegister(d.checksSkipped)
	d.metrics.Pprof = cfg.Metrics.Pprof
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	if err := d.startACME(runCtx); err != nil { // acme.go
		return d.fail(err, "acme")
	}
	d.metrics.Registry.MustRegister(acme.Collector(d.acme, d.certExpiries))
	d.startWeb(runCtx)        // web.go
	stopTide := d.startTide() // the queue-tide page at "/" on the metrics listener (tide.go)
	defer stopTide()
	d.startReports(runCtx) // before the checks and the relay, which record for them (reports.go)
	defer d.stopReports()

	d.recv = d.newReceiver(d.checkers()) // receive.go: every receiver's hand-off
	srv, err := smtpd.New(smtpd.Config{
		Options:    smtpOptions(cfg),
		Listeners:  append(d.inboundListeners(), d.submissionListeners()...),
		Spool:      d.recv,
		TLS:        d.certs,
		Logger:     d.log.Logger,
		Metrics:    d.metrics,
		OnRefusal:  d.jr.refused,     // journal.go: every ref a client gets opens its story
		Postmaster: d.hostPostmaster, // listen.go
	})
	if err != nil {
		return d.fail(err, "start")
	}
	d.smtp = srv
	if err := srv.Bind(); err != nil {
		return d.fail(err, "listen")
	}

	if code := d.startRelay(); code != 0 {
		return code
	}
	defer d.stopRelay()
	transports := d.withSRS(d.transports()) // SRS bounces reach the original sender (srs.go)
	fetchOutcomes := d.startFetchOutcomes() // before the queue runs (fetch.go)

	queueDone := make(chan error, 1)
	go func() { queueDone <- q.Run(runCtx, transports) }()
	smtpDone := make(chan error, 1)
	go func() { smtpDone <- srv.Serve() }()
	d.startPickup(runCtx)
	d.startFetch(runCtx, fetchOutcomes)
	d.runClusterKeeper(runCtx) // cluster.go: the heartbeat, until the stop
	metricsDone := make(chan error, 1)
	if d.metrLn != nil {
		go func() { metricsDone <- d.metrics.Serve(runCtx, d.metrLn) }()
	}

	d.log.Info("ebb serve started", "pid", os.Getpid(), "user", who.User, "uid", who.UID,
		"config", cfg.File, "spool", q.Spool(), "directory", dir.Where(),
		"smtp", addrList(srv.Addrs()), "metrics", addrOf(d.metrLn), "memory_limit_mib", memLimit>>20)
	if d.demo {
		d.demoBanner(srv.Addrs())
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	code := 0
loop:
	for {
		select {
		case <-d.ctx.Done():
			d.log.Info("stopping: no new connections; waiting for messages being received",
				"bound", cfg.SMTP.ShutdownTimeout.Duration.String())
			break loop
		case <-hup:
			d.reload()
		case err := <-smtpDone:
			if err != nil {
				d.log.Error("smtp failed", "err", err)
				code = diag.ExSoftware
			}
			break loop
		case err := <-queueDone:
			d.log.Error("queue runner stopped", "err", err)
			queueDone <- err
			code = diag.ExSoftware
			break loop
		case err := <-metricsDone:
			if err != nil {
				d.log.Error("metrics endpoint failed", "err", err)
			}
		}
	}

	// SIGTERM: stop accepting, let DATA in progress finish (bounded), then
	// stop the queue runner (it lets attempts in flight finish within
	// queue.stop_timeout), then release the spool.
	sctx, cancel := context.WithTimeout(context.Background(), cfg.SMTP.ShutdownTimeout.Duration)
	if err := srv.Shutdown(sctx); err != nil {
		d.log.Warn("smtp shutdown", "err", err)
	}
	cancel()
	stopRun()
	if err := <-queueDone; err != nil && !errors.Is(err, context.Canceled) {
		d.log.Warn("queue runner", "err", err)
	}
	d.log.Info("ebb serve stopped")
	return code
}

func addrList(as []net.Addr) string {
	var s []string
	for _, a := range as {
		s = append(s, a.String())
	}
	return strings.Join(s, ",")
}

func addrOf(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return p
}
