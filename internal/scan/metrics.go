package scan

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the scan collectors: every method is safe on a nil *Metrics.
type Metrics struct {
	results   *prometheus.CounterVec
	unscanned *prometheus.CounterVec
	seconds   *prometheus.HistogramVec
	message   prometheus.Histogram
	breakers  *prometheus.GaugeVec
	verdicts  *prometheus.CounterVec
}

// NewMetrics registers the scan collectors with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_scan_results_total",
			Help: "Scanner answers per message, by scanner and status (clean, ham, spam, virus, refused, deferred, skipped, failed).",
		}, []string{"scanner", "status"}),
		unscanned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_scan_unscanned_total",
			Help: "Messages a scanner did not scan, by scanner and cause (size, scanner_limit, scanner_skip, down, timeout, protocol, breaker, io).",
		}, []string{"scanner", "cause"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ebb_scan_seconds",
			Help:    "Time one scanner took for one message.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"scanner"}),
		message: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ebb_scan_message_seconds",
			Help:    "Time the whole scan of one message took (all its scanners, in order or in parallel, and the policy).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		breakers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ebb_scan_breaker_open",
			Help: "1 while a scanner's circuit breaker is open (it is not asked; its failure policy applies).",
		}, []string{"scanner"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_scan_verdicts_total",
			Help: "Scan verdicts per message (accept, hold, tempfail, reject).",
		}, []string{"verdict"}),
	}
	m.results = register(reg, m.results)
	m.unscanned = register(reg, m.unscanned)
	m.seconds = register(reg, m.seconds)
	m.message = register(reg, m.message)
	m.breakers = register(reg, m.breakers)
	m.verdicts = register(reg, m.verdicts)
	return m
}

// register adds c to reg, or returns the collector already there: the
// daemon builds a scan engine for each path mail enters by (SMTP, fetch),
// and they count into the same series.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
		panic(err)
	}
	return c
}

func (m *Metrics) result(r *Result) {
	if m == nil {
		return
	}
	m.results.WithLabelValues(r.Scanner, string(r.Status)).Inc()
	if r.Status == Skipped || r.Status == Failed {
		m.unscanned.WithLabelValues(r.Scanner, r.Cause).Inc()
	}
	if r.Took > 0 {
		m.seconds.WithLabelValues(r.Scanner).Observe(r.Took.Seconds())
	}
}

func (m *Metrics) breaker(scanner string, open bool) {
	if m == nil {
		return
	}
	v := 0.0
	if open {
		v = 1
	}
	m.breakers.WithLabelValues(scanner).Set(v)
}

func (m *Metrics) verdict(v string, took time.Duration) {
	if m == nil {
		return
	}
	m.verdicts.WithLabelValues(v).Inc()
	m.message.Observe(took.Seconds())
}
