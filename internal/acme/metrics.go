package acme

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// stats are the manager's counters.
type stats struct {
	mu         sync.Mutex
	orders     map[string]uint64 // issued, failed
	challenges map[string]uint64 // by type, answered to the CA
}

func newStats() *stats {
	return &stats{orders: map[string]uint64{}, challenges: map[string]uint64{}}
}

func (s *stats) order(result string) {
	s.mu.Lock()
	s.orders[result]++
	s.mu.Unlock()
}

func (s *stats) challengeServed(typ string) {
	s.mu.Lock()
	s.challenges[typ]++
	s.mu.Unlock()
}

// Expiry is one certificate ebb serves and when it ends, for the
// ebb_tls_certificate_expiry_timestamp_seconds metric.
type Expiry struct {
	Name     string // the certificate's first name
	Source   string // acme, or the setting that names the file (smtp.tls_cert)
	NotAfter time.Time
}

var (
	descExpiry = prometheus.NewDesc("ebb_tls_certificate_expiry_timestamp_seconds",
		"When each certificate ebb serves expires (Unix time), by its first name and where it comes from (acme, or the setting naming its file). Alert when it is less than a few days away: ACME renews 30 days before.",
		[]string{"name", "source"}, nil)
	descRenewAt = prometheus.NewDesc("ebb_acme_renewal_timestamp_seconds",
		"When ebb will next order each ACME certificate (Unix time): its renewal time, or the end of the backoff after a failure.",
		[]string{"name"}, nil)
	descFailing = prometheus.NewDesc("ebb_acme_consecutive_failures",
		"Failed orders in a row for each ACME certificate (0: the last order succeeded). ebb doctor and the log say what the CA answered.",
		[]string{"name"}, nil)
	descOrders = prometheus.NewDesc("ebb_acme_orders_total",
		"ACME orders since start, by result (issued, failed).", []string{"result"}, nil)
	descChallenges = prometheus.NewDesc("ebb_acme_challenges_answered_total",
		"Challenge requests from the CA that ebb answered, by type (http-01, tls-alpn-01).", []string{"type"}, nil)
)

// Collector exports the certificates' expiry and the manager's counters;
// extra adds certificates from files (smtp.tls_cert), which share the
// expiry metric. m may be nil (ACME off): then only extra is exported.
func Collector(m *Manager, extra func() []Expiry) prometheus.Collector {
	return &collector{m: m, extra: extra}
}

type collector struct {
	m     *Manager
	extra func() []Expiry
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descExpiry, descRenewAt, descFailing, descOrders, descChallenges} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	var ex []Expiry
	if c.extra != nil {
		ex = c.extra()
	}
	if m := c.m; m != nil {
		for _, s := range m.Statuses() {
			if !s.NotAfter.IsZero() {
				ex = append(ex, Expiry{Name: s.Name, Source: "acme", NotAfter: s.NotAfter})
			}
			m.mu.Lock()
			at := m.dueAt(m.certs[s.Name])
			m.mu.Unlock()
			ch <- prometheus.MustNewConstMetric(descRenewAt, prometheus.GaugeValue, float64(at.Unix()), s.Name)
			ch <- prometheus.MustNewConstMetric(descFailing, prometheus.GaugeValue, float64(s.State.Failures), s.Name)
		}
		m.stats.mu.Lock()
		for _, r := range []string{"issued", "failed"} {
			ch <- prometheus.MustNewConstMetric(descOrders, prometheus.CounterValue, float64(m.stats.orders[r]), r)
		}
		for _, t := range []string{"http-01", "tls-alpn-01"} {
			ch <- prometheus.MustNewConstMetric(descChallenges, prometheus.CounterValue, float64(m.stats.challenges[t]), t)
		}
		m.stats.mu.Unlock()
	}
	seen := map[[2]string]bool{}
	for _, e := range ex {
		k := [2]string{e.Name, e.Source}
		if seen[k] {
			continue
		}
		seen[k] = true
		ch <- prometheus.MustNewConstMetric(descExpiry, prometheus.GaugeValue, float64(e.NotAfter.Unix()), e.Name, e.Source)
	}
}
