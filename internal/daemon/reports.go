package daemon

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ebbmail/ebb/internal/dmarcrpt"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/msgauth"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/relay"
	"github.com/ebbmail/ebb/internal/reports"
)

// reportState is the aggregate reports in ebb serve (internal/reports):
// the store, the recorder the relay and the DMARC check feed, the daily
// sender and the intake of reports that arrive. nil when the store could
// not be opened: mail flows without reports (logged).
type reportState struct {
	store   reports.Store
	rec     *reports.Recorder
	sender  *reports.Sender
	intake  *reports.Intake
	metrics *reports.Metrics
	done    chan struct{}

	mu   sync.Mutex
	seen map[string]bool // queue ids whose data the intake read
}

// sendEvery is how often the daemon looks for reports that are due.
const sendEvery = 5 * time.Minute

// startReports opens reports.store and starts the recorder and the daily
// sender. Call it after the directory and the queue are open, before the
// checks and the relay are built.
func (d *daemon) startReports(ctx context.Context) {
	cfg := d.cfg
	log := d.log.With("component", "reports")
	st, err := reports.Open(ctx, cfg, reports.StoreOptions{})
	if err != nil {
		log.Error("reports are off: the store cannot be opened; no TLS or DMARC report is recorded, sent or kept",
			"store", cfg.ReportsStore(), "setting", "reports.store", "err", err)
		return
	}
	m := reports.NewMetrics()
	if d.metrics != nil {
		d.metrics.Registry.MustRegister(m.Collectors()...)
	}
	r := &reportState{store: st, metrics: m, rec: reports.NewRecorder(st, log, m), done: make(chan struct{}), seen: map[string]bool{}}
	r.sender = &reports.Sender{Store: st, Cfg: cfg, TXT: dnsresolve.NewClient(cfg), Outbox: queueOutbox{d.q}, Log: log, Metrics: m}
	r.intake = &reports.Intake{Store: st, AuthservID: cfg.AuthservID(), Mode: cfg.Reports.Receive, Max: int64(cfg.Reports.MaxReceived),
		Log: log, Metrics: m, Hosted: func(ctx context.Context, domain string) bool {
			ok, err := d.dir.IsLocalDomain(ctx, domain)
			return err == nil && ok
		}}
	d.rep = r
	go func() {
		defer close(r.done)
		t := time.NewTicker(sendEvery)
		defer t.Stop()
		for {
			if _, err := r.sender.SendDue(ctx); err != nil && ctx.Err() == nil {
				log.Error("reports: cannot look for reports to send", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// stopReports writes what the recorder holds and closes the store, once
// the queue and the SMTP server have stopped.
func (d *daemon) stopReports() {
	if d.rep == nil {
		return
	}
	<-d.rep.done
	d.rep.rec.Close()
	d.rep.store.Close()
}

// queueOutbox queues a report message in ebb's own queue: the relay signs
// it with its From: domain's DKIM key on the way out.
type queueOutbox struct{ q *queue.Queue }

func (o queueOutbox) Submit(ctx context.Context, from string, to []string, msg []byte) (string, error) {
	env := &queue.Envelope{From: from, Recipients: to, Proto: "local", SessionID: "reports"}
	return o.q.Receive(ctx, env, bytes.NewReader(msg), queue.ReceiveOptions{})
}

// tlsReport is the relay's TLS-RPT hook: each session's outcome, recorded
// for the policy domain's daily report.
func (d *daemon) tlsReport() func(relay.TLSResult) {
	if d.rep == nil {
		return nil
	}
	rec := d.rep.rec
	return func(t relay.TLSResult) {
		rec.TLS(reports.TLSRecord{Day: reports.DayOf(t.Time), Domain: t.Domain, PolicyType: t.Policy, PolicyStrings: t.Strings,
			MXHost: t.MXHost, Result: t.Result, SendingIP: t.SendingIP, ReceivingHost: t.ReceivingHost, ReceivingIP: t.ReceivingIP,
			Detail: t.Detail})
	}
}

// recordDMARC records one DMARC evaluation for the From: domain's
// aggregate report (when its record asks for reports), with what ebb did
// with the message: refused (reject), quarantined, or delivered (none),
// and why that differs from the policy.
func (d *daemon) recordDMARC(res *msgauth.Result, env *queue.Envelope, refused bool, quarantine string) {
	if d.rep == nil {
		return
	}
	dm := res.DMARC
	ev := reports.Evaluation{Time: time.Now(), IP: env.ClientAddr, MailFrom: env.From, Helo: env.ClientHelo, Rcpts: env.Recipients, Applied: "none"}
	switch {
	case refused:
		ev.Applied = "reject"
	case dm.Disposition == msgauth.Reject || dm.Disposition == msgauth.Quarantine:
		ev.Applied = "quarantine"
		if dm.Disposition == msgauth.Reject {
			ev.Reasons = append(ev.Reasons, dmarcrpt.Reason{Type: "local_policy", Comment: "auth.dmarc_reject = false: quarantined"})
		}
		if quarantine == "" {
			ev.Applied = "none"
			ev.Reasons = append(ev.Reasons, dmarcrpt.Reason{Type: "local_policy", Comment: "no auth.quarantine_folder: delivered to the inbox"})
		}
	}
	if dm.Result == "fail" && msgauth.Disposition(dm.Policy) != dm.Disposition && dm.Percent < 100 {
		ev.Reasons = append(ev.Reasons, dmarcrpt.Reason{Type: "sampled_out", Comment: fmt.Sprintf("pct=%d", dm.Percent)})
	}
	if rec, ok := reports.DMARCRecordOf(res, ev); ok {
		d.rep.rec.DMARC(rec)
	}
}

// reportIntake reads a report from a message just delivered to a local
// mailbox, once per message (its first local delivery, to rcpt). A
// message it cannot read is said (principle 7): the intake logs and counts
// it (reports.Intake.Unread), and the delivery's record to rcpt notes it.
func (d *daemon) reportIntake(ctx context.Context, m *queue.Message, rcpt string) {
	if d.rep == nil {
		return
	}
	if m.HeaderSeen && !d.rep.intake.MayHold(m.ContentType) {
		return // no report: the file need not be opened again (queue.Receive read its header)
	}
	d.rep.mu.Lock()
	if len(d.rep.seen) > 10000 {
		d.rep.seen = map[string]bool{}
	}
	seen := d.rep.seen[m.ID]
	d.rep.seen[m.ID] = true
	d.rep.mu.Unlock()
	if seen {
		return
	}
	data, err := m.OpenData()
	if err != nil {
		d.rep.intake.Unread(m.ID, err)
		d.jr.deliveredNote(m, rcpt, reports.UnreadNote(err))
		return
	}
	defer data.Close()
	if _, err := d.rep.intake.Message(ctx, m.ID, m.Prefix(), data); err != nil {
		d.jr.deliveredNote(m, rcpt, reports.UnreadNote(err)) // said by the intake
	}
}
