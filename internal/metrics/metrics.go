// Package metrics is ebb's Prometheus instrumentation: one registry per
// process (never the global one), the collectors the daemon exports, and the
// /metrics HTTP endpoint.
//
// The names follow Prometheus conventions (ebb_ prefix, _total for
// counters). Components get a *Metrics and call its methods; every method is
// safe on a nil *Metrics so that tests and one-shot commands need no registry.
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ebbmail/ebb/internal/queue"
)

// Metrics holds ebb's collectors and the registry they live in.
type Metrics struct {
	Registry *prometheus.Registry
	// Pprof serves Go's profiler under /debug/pprof/ beside /metrics
	// (metrics.pprof). Off by default: a profile costs CPU while it runs,
	// and any local user can reach the metrics port.
	Pprof bool
	// Page, when set, is served at "/": the queue-tide page (internal/tide).
	Page http.Handler

	smtpSessions *prometheus.CounterVec
	smtpActive   *prometheus.GaugeVec
	smtpReplies  *prometheus.CounterVec
	smtpRefused  *prometheus.CounterVec
	smtpMessages *prometheus.CounterVec
	smtpBytes    prometheus.Counter
	authLogins   *prometheus.CounterVec
	smtpRefusals *prometheus.CounterVec
}

// New makes a registry with ebb's collectors and the Go runtime and process
// collectors.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		smtpSessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_smtp_sessions_total",
			Help: "SMTP connections accepted, by listener kind.",
		}, []string{"listener"}),
		smtpActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ebb_smtp_sessions_active",
			Help: "SMTP connections open now, by listener kind.",
		}, []string{"listener"}),
		smtpReplies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_smtp_replies_total",
			Help: "SMTP replies sent, by reply code.",
		}, []string{"code"}),
		smtpRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_smtp_connections_refused_total",
			Help: "SMTP connections refused at accept, by reason (per_ip, total, reserve: only the smtp.reserved_connections for trusted networks are left, shutdown).",
		}, []string{"reason"}),
		smtpMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_smtp_messages_total",
			Help: "Messages offered with DATA/BDAT, by outcome (accepted, rejected, deferred).",
		}, []string{"outcome"}),
		smtpBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ebb_smtp_received_bytes_total",
			Help: "Bytes of message data accepted over SMTP.",
		}),
		authLogins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_auth_logins_total",
			Help: "SMTP AUTH attempts by outcome (ok, failed, refused: too many failures, busy: no turn at password verification within directory.auth_wait, deferred: our trouble).",
		}, []string{"outcome"}),
		smtpRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_smtp_refusals_total",
			Help: "SMTP refusals given with a ref (connection, auth, mail, rcpt, data), by stage and by journal record: new (journaled in full), shared (the ref of an earlier refusal of the same kind from the same source within a minute: its follow-up record counts it), flood (over the bound on new refusal records a second: the window's flood ref).",
		}, []string{"stage", "record"}),
	}
	r.MustRegister(m.smtpSessions, m.smtpActive, m.smtpReplies, m.smtpRefused,
		m.smtpMessages, m.smtpBytes, m.authLogins, m.smtpRefusals,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// SessionOpened counts a new SMTP connection on a listener of the given kind.
func (m *Metrics) SessionOpened(listener string) {
	if m == nil {
		return
	}
	m.smtpSessions.WithLabelValues(listener).Inc()
	m.smtpActive.WithLabelValues(listener).Inc()
}

// SessionClosed is the end of a connection SessionOpened counted.
func (m *Metrics) SessionClosed(listener string) {
	if m == nil {
		return
	}
	m.smtpActive.WithLabelValues(listener).Dec()
}

// Reply counts one SMTP reply (a multi-line reply counts once).
func (m *Metrics) Reply(code int) {
	if m == nil {
		return
	}
	m.smtpReplies.WithLabelValues(strconv.Itoa(code)).Inc()
}

// Refused counts a connection turned away at accept.
func (m *Metrics) Refused(reason string) {
	if m == nil {
		return
	}
	m.smtpRefused.WithLabelValues(reason).Inc()
}

// Refusal counts one refusal with a ref by stage and by how it is
// journaled (new, shared, flood).
func (m *Metrics) Refusal(stage, record string) {
	if m == nil {
		return
	}
	m.smtpRefusals.WithLabelValues(stage, record).Inc()
}

// Message counts a message transaction's outcome and, when accepted, its size.
func (m *Metrics) Message(outcome string, size int64) {
	if m == nil {
		return
	}
	m.smtpMessages.WithLabelValues(outcome).Inc()
	if outcome == "accepted" {
		m.smtpBytes.Add(float64(size))
	}
}

// Auth counts one SMTP AUTH attempt by outcome.
func (m *Metrics) Auth(outcome string) {
	if m == nil {
		return
	}
	m.authLogins.WithLabelValues(outcome).Inc()
}

// Queue registers a collector that reads the queue's counts at every
// scrape: depth by state, delivery attempts by outcome, deferrals and
// permanent failures by reason class. The queue keeps the counts (it makes
// the attempts); this only exports them.
func (m *Metrics) Queue(stats func() queue.Stats) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(&queueCollector{stats: stats})
}

var (
	descMessages = prometheus.NewDesc("ebb_queue_messages",
		"Messages in the queue, by whether they are held.", []string{"held"}, nil)
	descDepth = prometheus.NewDesc("ebb_queue_depth",
		"Recipients of queued messages by state (pending, deferred, delivered, failed).", []string{"state"}, nil)
	descReceived = prometheus.NewDesc("ebb_queue_received_total",
		"Messages accepted into the queue (DSNs included).", nil, nil)
	descFlushes = prometheus.NewDesc("ebb_queue_flushes_total",
		"Group-commit flushes that made received messages durable (syncfs of the spool's filesystem, shared with the deliveries on it; or the spool directory's fsync with queue.sync = files). Divided by ebb_queue_received_total: flushes per message.", nil, nil)
	descDSNIncomplete = prometheus.NewDesc("ebb_queue_dsn_header_incomplete_total",
		"DSNs queued whose returned header is incomplete: the message's header could not be read (the log and the message's dsn record, ebb explain, say why).", nil, nil)
	descDeliveries = prometheus.NewDesc("ebb_deliveries_total",
		"Delivery attempts per recipient, by outcome (delivered, deferred, failed).", []string{"outcome"}, nil)
	descDeferrals = prometheus.NewDesc("ebb_deferrals_total",
		"Deferred delivery attempts by reason class (the errno or operation of the error: EACCES, ENOSPC, no_transport, ...).", []string{"reason"}, nil)
	descFailures = prometheus.NewDesc("ebb_failures_total",
		"Permanent delivery failures and expiries by reason class.", []string{"reason"}, nil)
)

type queueCollector struct{ stats func() queue.Stats }

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMessages, descDepth, descReceived, descFlushes, descDSNIncomplete, descDeliveries, descDeferrals, descFailures} {
		ch <- d
	}
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(descMessages, prometheus.GaugeValue, float64(s.Messages-s.Held), "false")
	ch <- prometheus.MustNewConstMetric(descMessages, prometheus.GaugeValue, float64(s.Held), "true")
	for st, n := range s.Depth {
		ch <- prometheus.MustNewConstMetric(descDepth, prometheus.GaugeValue, float64(n), string(st))
	}
	ch <- prometheus.MustNewConstMetric(descReceived, prometheus.CounterValue, float64(s.Received))
	ch <- prometheus.MustNewConstMetric(descFlushes, prometheus.CounterValue, float64(s.Flushes))
	ch <- prometheus.MustNewConstMetric(descDSNIncomplete, prometheus.CounterValue, float64(s.DSNHeaderIncomplete))
	for st, n := range s.Deliveries {
		ch <- prometheus.MustNewConstMetric(descDeliveries, prometheus.CounterValue, float64(n), string(st))
	}
	for r, n := range s.Deferrals {
		ch <- prometheus.MustNewConstMetric(descDeferrals, prometheus.CounterValue, float64(n), r)
	}
	for r, n := range s.Failures {
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(n), r)
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// Serve answers /metrics on l until ctx ends.
func (m *Metrics) Serve(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	if m.Page != nil {
		mux.Handle("/", m.Page)
	}
	if m.Pprof {
		// Go's profiler, for "where does the time go" on a live daemon,
		// only when asked for (metrics.pprof).
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
