package reports

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the reports' collectors; the daemon registers them. Methods
// are safe on nil.
type Metrics struct {
	records      *prometheus.CounterVec
	lostRecords  *prometheus.CounterVec
	reports      *prometheus.CounterVec
	destinations *prometheus.CounterVec
	received     *prometheus.CounterVec
	unread       prometheus.Counter
}

// NewMetrics makes the collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_reports_recorded_total",
			Help: "Outcomes recorded for the aggregate reports, by kind: tls (an outbound TLS session, RFC 8460) or dmarc (a DMARC evaluation of a domain that asks for reports, RFC 7489).",
		}, []string{"kind"}),
		lostRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_reports_records_lost_total",
			Help: "Outcomes that could not be recorded (the store failed, or too many waited): missing from the reports. The log says why.",
		}, []string{"kind"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_reports_sent_total",
			Help: "Daily reports ebb made, by kind (tls, dmarc) and outcome: sent (to at least one destination), skipped (the domain asks for none), retry (a temporary failure), failed.",
		}, []string{"kind", "outcome"}),
		destinations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_reports_destinations_total",
			Help: "Report deliveries to a rua destination, by kind, method (mailto: queued, https: posted) and outcome (ok, failed, unauthorised, too_large).",
		}, []string{"kind", "method", "outcome"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_reports_received_total",
			Help: "Reports that arrived for the hosted domains, by kind and outcome: stored, duplicate, unauthenticated (not kept: its message did not pass DMARC, reports.receive = authenticated), unreadable.",
		}, []string{"kind", "outcome"}),
		unread: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ebb_reports_messages_unread_total",
			Help: "Delivered messages the report intake could not read (open, or read the header of) to look for a TLS or DMARC report: a report one held is not kept. The message itself is delivered; the log and the delivery's record (ebb explain) say why.",
		}),
	}
}

// Collectors are what to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	if m == nil {
		return nil
	}
	return []prometheus.Collector{m.records, m.lostRecords, m.reports, m.destinations, m.received, m.unread}
}

func (m *Metrics) recorded(kind string) {
	if m != nil {
		m.records.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) lost(kind string) { m.lostN(kind, 1) }

func (m *Metrics) lostN(kind string, n int) {
	if m != nil {
		m.lostRecords.WithLabelValues(kind).Add(float64(n))
	}
}

func (m *Metrics) report(kind, outcome string) {
	if m != nil {
		m.reports.WithLabelValues(kind, outcome).Inc()
	}
}

func (m *Metrics) destination(kind, method, outcome string) {
	if m != nil {
		m.destinations.WithLabelValues(kind, method, outcome).Inc()
	}
}

func (m *Metrics) receivedReport(kind, outcome string) {
	if m != nil {
		m.received.WithLabelValues(kind, outcome).Inc()
	}
}

func (m *Metrics) unreadMessage() {
	if m != nil {
		m.unread.Inc()
	}
}
