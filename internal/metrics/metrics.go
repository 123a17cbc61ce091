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
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds ebb's collectors and the registry they live in.
type Metrics struct {
	Registry *prometheus.Registry

	smtpSessions *prometheus.CounterVec
	smtpActive   *prometheus.GaugeVec
	smtpReplies  *prometheus.CounterVec
	smtpRefused  *prometheus.CounterVec
	smtpMessages *prometheus.CounterVec
	smtpBytes    prometheus.Counter
	deliveries   *prometheus.CounterVec
	deferrals    *prometheus.CounterVec
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
			Help: "SMTP connections refused at accept, by reason (per_ip, total, shutdown).",
		}, []string{"reason"}),
		smtpMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_smtp_messages_total",
			Help: "Messages offered with DATA/BDAT, by outcome (accepted, rejected, deferred).",
		}, []string{"outcome"}),
		smtpBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ebb_smtp_received_bytes_total",
			Help: "Bytes of message data accepted over SMTP.",
		}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_deliveries_total",
			Help: "Delivery attempts per recipient, by outcome (delivered, deferred, failed).",
		}, []string{"outcome"}),
		deferrals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_deferrals_total",
			Help: "Deferred delivery attempts, by reason class (the errno or operation of the diag error, e.g. EACCES, ENOSPC, no_transport).",
		}, []string{"reason"}),
	}
	r.MustRegister(m.smtpSessions, m.smtpActive, m.smtpReplies, m.smtpRefused,
		m.smtpMessages, m.smtpBytes, m.deliveries, m.deferrals,
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

// Delivery counts one delivery attempt for one recipient. For a deferral,
// reason is its class (see ReasonClass).
func (m *Metrics) Delivery(outcome, reason string) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(outcome).Inc()
	if outcome == "deferred" {
		if reason == "" {
			reason = "other"
		}
		m.deferrals.WithLabelValues(reason).Inc()
	}
}

// QueueDepth registers fn, which reports how many recipients (or messages)
// are in each queue state; it is called at every scrape.
func (m *Metrics) QueueDepth(fn func() map[string]float64) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(&depthCollector{fn: fn, desc: prometheus.NewDesc(
		"ebb_queue_depth", "Messages in the queue by state (pending, deferred, held, ...).",
		[]string{"state"}, nil)})
}

type depthCollector struct {
	fn   func() map[string]float64
	desc *prometheus.Desc
}

func (d *depthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

func (d *depthCollector) Collect(ch chan<- prometheus.Metric) {
	for state, n := range d.fn() {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.GaugeValue, n, state)
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
