package msgauth

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts the verdicts (principle 7: what happened is in the
// header, the log and a metric).
type Metrics struct {
	results *prometheus.CounterVec
}

// NewMetrics registers ebb_auth_results_total{method,result} with reg (or
// takes the one already registered, after a reload).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ebb_auth_results_total",
		Help: "Message authentication verdicts on mail from outside, by method (spf, spf_helo, dkim, dmarc, dmarc_disposition) and result.",
	}, []string{"method", "result"})
	if reg != nil {
		if err := reg.Register(cv); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				if old, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
					cv = old
				}
			}
		}
	}
	return &Metrics{results: cv}
}

// Observe counts one message's results.
func (m *Metrics) Observe(r *Result) {
	if m == nil {
		return
	}
	m.results.WithLabelValues("spf", string(r.SPF.Result)).Inc()
	m.results.WithLabelValues("spf_helo", string(r.HeloSPF.Result)).Inc()
	if len(r.DKIM) == 0 {
		m.results.WithLabelValues("dkim", "none").Inc()
	}
	for _, d := range r.DKIM {
		m.results.WithLabelValues("dkim", d.Result).Inc()
	}
	m.results.WithLabelValues("dmarc", r.DMARC.Result).Inc()
	m.results.WithLabelValues("dmarc_disposition", string(r.DMARC.Disposition)).Inc()
}
