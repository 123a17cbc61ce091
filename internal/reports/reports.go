// Package reports is the aggregate reports ebb sends and reads (issue
// 26): SMTP TLS Reporting (RFC 8460) about its outbound TLS sessions and
// DMARC aggregate reports (RFC 7489 §7.2) about the mail it judged, sent
// once a day to the domains that ask (rua), and the reports other
// organisations send about the hosted domains, kept and summarised.
//
//	st, err := reports.Open(ctx, cfg, reports.StoreOptions{Owner: owner})
//	rec := reports.NewRecorder(st, log, m)   // the relay and the checks add outcomes
//	rec.TLS(reports.TLSRecord{...})          // never blocks; batched into the store
//	s := &reports.Sender{Store: st, Cfg: cfg, TXT: dns, Outbox: q}
//	sent, err := s.SendDue(ctx)              // the days that are over, once each
//	in := &reports.Intake{Store: st, AuthservID: id, Mode: cfg.Reports.Receive}
//	in.Message(ctx, id, prefix, data)        // after a local delivery
//
// The formats are internal/tlsrpt's and internal/dmarcrpt's. What must
// survive restarts (counts per domain and UTC day, the reports received,
// which were sent) is in a Store: SQLite in reports.store today; the
// interface is what a shared store for several hosts implements.
// Sending is idempotent per (kind, domain, day): a claim in the store
// keeps the daemon's schedule and ebb report send from sending one report
// twice; a temporary failure is retried an hour later.
package reports

import (
	"context"

	"github.com/ebbmail/ebb/internal/config"
)

// Open opens reports.store.
func Open(ctx context.Context, cfg *config.Config, o StoreOptions) (Store, error) {
	return OpenSQLite(ctx, cfg.ReportsStore(), o)
}
