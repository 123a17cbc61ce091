package daemon

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/journal"
	"github.com/ebbmail/ebb/internal/logging"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/reports"
	"github.com/prometheus/client_golang/prometheus"
)

// A delivered message the report intake cannot read is said: a log line
// with the queue id and the error, ebb_reports_messages_unread_total, and
// a note on the delivery's record (ebb explain).
func TestReportIntakeUnreadableMessageIsSaid(t *testing.T) {
	var logBuf strings.Builder
	lg, err := logging.New(&logBuf, "logfmt", "warn")
	if err != nil {
		t.Fatal(err)
	}
	m := reports.NewMetrics()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	d := &daemon{log: lg,
		rep: &reportState{intake: &reports.Intake{Mode: "all", Log: lg.With("component", "reports"), Metrics: m}, metrics: m, seen: map[string]bool{}},
		jr:  &journalRecorder{log: func(string, ...any) {}, pending: map[string][]journal.Record{}, detail: map[string]journal.Record{}, told: map[string]time.Time{}}}
	msg := &queue.Message{ID: "Q1", File: filepath.Join(t.TempDir(), "gone"), Size: 10}
	rcpt := "alice@example.test"
	d.jr.delivered(msg, rcpt, &deliver.Report{Outcomes: []deliver.Outcome{{Mailbox: rcpt, Files: []string{"/m/new/1"}}}})
	d.reportIntake(context.Background(), msg, rcpt)
	rec := d.jr.detail["Q1\x00"+rcpt]
	if !strings.HasPrefix(rec.Detail, "stored for "+rcpt) || !strings.Contains(rec.Detail, "not read for a TLS or DMARC report (") ||
		!strings.Contains(rec.Detail, "no such file or directory") {
		t.Errorf("delivered record %q, want the unread note", rec.Detail)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var unread float64 = -1
	for _, mf := range mfs {
		if mf.GetName() == "ebb_reports_messages_unread_total" {
			unread = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if unread != 1 {
		t.Errorf("ebb_reports_messages_unread_total %v, want 1", unread)
	}
	if l := logBuf.String(); !strings.Contains(l, "cannot read a delivered message to look for a report") || !strings.Contains(l, "queue_id=Q1") {
		t.Errorf("log %q", l)
	}
}
