package relay

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the relay's Prometheus collectors; the daemon registers
// them (Collectors) in its registry. Methods are safe on nil.
type Metrics struct {
	deliveries  *prometheus.CounterVec
	replies     *prometheus.CounterVec
	connections prometheus.Counter
	downgrades  prometheus.Counter
	suspensions prometheus.Counter
	sts         *prometheus.CounterVec
	stsExempt   prometheus.Counter
	sessions    *prometheus.CounterVec
	daneExempt  prometheus.Counter
}

// NewMetrics makes the collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_relay_delivered_total",
			Help: "Recipients relayed to another host, by whether the session was encrypted (tls=yes|no).",
		}, []string{"tls"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_relay_remote_failures_total",
			Help: "Remote replies that deferred or refused a recipient, by step (mail, rcpt, data, end-of-data) and reply code.",
		}, []string{"step", "code"}),
		connections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ebb_relay_connections_total",
			Help: "Outbound TCP connections opened.",
		}),
		downgrades: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ebb_relay_tls_downgrades_total",
			Help: "Sessions that went on in the clear after a failed STARTTLS handshake (relay.tls = may).",
		}),
		suspensions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ebb_relay_destinations_suspended_total",
			Help: "Destinations suspended after relay.dead_after connection failures in a row.",
		}),
		sts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_relay_mtasts_mismatches_total",
			Help: "Deliveries where an MX host did not match the domain's MTA-STS policy, by policy mode (enforce skips the host, testing only counts).",
		}, []string{"mode"}),
		stsExempt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ebb_relay_mta_sts_exempt_total",
			Help: "Deliveries to domains in mta_sts.exempt, whose published MTA-STS policy was not applied.",
		}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_relay_tls_sessions_total",
			Help: "TLS sessions with MX hosts (and policies that could not be applied), by the policy that applied (dane, mta-sts, none) and the result: success, or the TLS-RPT failure type (RFC 8460 §4.3: starttls-not-supported, tlsa-invalid, dnssec-invalid, certificate-host-mismatch, ...).",
		}, []string{"policy", "result"}),
		daneExempt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ebb_relay_dane_exempt_total",
			Help: "Deliveries to domains in dane.exempt, whose MX hosts' TLSA records were not looked up.",
		}),
	}
}

// Collectors are what to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	if m == nil {
		return nil
	}
	return []prometheus.Collector{m.deliveries, m.replies, m.connections, m.downgrades, m.suspensions, m.sts, m.stsExempt,
		m.sessions, m.daneExempt}
}

func (m *Metrics) delivered(tls bool) {
	if m != nil {
		v := "no"
		if tls {
			v = "yes"
		}
		m.deliveries.WithLabelValues(v).Inc()
	}
}

func (m *Metrics) remoteReply(step string, code int) {
	if m != nil {
		m.replies.WithLabelValues(step, strconv.Itoa(code)).Inc()
	}
}

func (m *Metrics) connection() {
	if m != nil {
		m.connections.Inc()
	}
}

func (m *Metrics) downgrade() {
	if m != nil {
		m.downgrades.Inc()
	}
}

func (m *Metrics) suspension() {
	if m != nil {
		m.suspensions.Inc()
	}
}

func (m *Metrics) stsFailure(mode string) {
	if m != nil {
		m.sts.WithLabelValues(mode).Inc()
	}
}

func (m *Metrics) stsExempted() {
	if m != nil {
		m.stsExempt.Inc()
	}
}

func (m *Metrics) session(policy, result string) {
	if m != nil {
		if result == "" {
			result = "success"
		}
		m.sessions.WithLabelValues(policy, result).Inc()
	}
}

func (m *Metrics) daneExempted() {
	if m != nil {
		m.daneExempt.Inc()
	}
}
