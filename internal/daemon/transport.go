package daemon

import (
	"context"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/maildir"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/sievefilter"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// transports are where the queue hands each recipient: the route (local
// or remote), the local transport (directory → Sieve → Maildir) and the
// remote one.
func (d *daemon) transports() queue.Transports {
	// One Agent per attempt, so that its log lines carry the queue id;
	// they share the Maildir file namer and the Sieve filter.
	cfg, dir, q := d.cfg, d.dir, d.q
	namer := maildir.NewNamer(cfg.Server.Hostname)
	if fs := q.SharedFlush(); fs != nil {
		// queue.sync = "filesystem": a delivery's Maildir file and link
		// become durable in the same syncfs flushes as the receives on
		// that filesystem (one flush for all waiting then, where each
		// delivery made two fsyncs of its own). No client waits for a
		// delivery, so it lingers for the next receive's flush rather
		// than starting one (deliveryLinger). Only on the spool's
		// filesystem: a Maildir elsewhere gets its own fsyncs, since a
		// syncfs of a filesystem ebb does not own would also write every
		// other program's data on it.
		namer.Flusher = fs.Lingering(deliveryLinger).SameFS(cfg.Queue.Spool)
	}
	agent := &deliver.Agent{Cfg: cfg, Resolver: dir, Component: "ebb serve", Namer: namer}
	filter := sievefilter.New(cfg, d.log.With("component", "sieve"), sieveOutbox{Q: q, Sender: func(ctx context.Context, sender string, rcpts []string) (string, queue.ReceiveOptions) {
		m := deliveringMessage(ctx)
		if note := sievefilter.Note(ctx); note != "" {
			// A vacation response (sender <>, never rewritten) whose
			// :from was replaced: its own record, naming the message it
			// answers.
			if m != nil {
				note += "; it answers queue item " + m.ID
			}
			return sender, d.noted("sieve", note)
		}
		sender, why := d.srsSender(ctx, m, sender, rcpts) // a redirect of the message being delivered
		return sender, d.srsNoted(why)
	}})
	filter.MayWriteAs = d.mayWriteAs // checks_sender.go: a vacation :from by the rule From: is checked by
	filter.FromReplaced = func() { d.vacationFromReplaced.Add(1) }
	filter.VacationNotSent = func() { d.vacationNotSent.Add(1) }
	filter.Skipped = func(why string) {
		if d.sieveSkipped != nil { // ebb serve's (not ebb route's)
			d.sieveSkipped.WithLabelValues(why).Inc()
		}
	}
	if d.cluster != nil {
		filter.State = d.cluster.SieveState() // one vacation reply, one duplicate record, whichever host delivers
	}
	agent.Filter = filter
	agent.FolderFallback = func(why string) {
		if d.folderFallbacks != nil { // ebb serve's (not ebb route's)
			d.folderFallbacks.WithLabelValues(why).Inc()
		}
	}
	agent.UsageNotUpdated = func() {
		if d.usageNotUpdated != nil { // ebb serve's (not ebb route's)
			d.usageNotUpdated.Inc()
		}
	}
	agent.QuotaCached = func() {
		if d.quotaCached != nil {
			d.quotaCached.WithLabelValues("delivery").Inc()
		}
	}
	deliverLog := d.log.With("component", "deliver")
	authservID := cfg.AuthservID() // forged Authentication-Results are not stored (checks_auth.go)
	return queue.Transports{
		Route: func(ctx context.Context, rcpt string) (queue.Route, error) {
			_, domain, ok := smtpd.SplitAddress(rcpt)
			if !ok {
				return queue.Local, nil
			}
			local, err := dir.IsLocalDomain(ctx, domain)
			if err != nil {
				return queue.Local, err
			}
			if local && cfg.Mail.DeliveryHost == "" {
				return queue.Local, nil
			}
			// Another domain's, or a hosted one stored by the delivery
			// host (mail.delivery_host: the relay takes it there).
			return queue.Remote, nil
		},
		Local: queue.TransportFunc(func(ctx context.Context, m *queue.Message, r *queue.Recipient) error {
			a := &deliver.Agent{Cfg: agent.Cfg, Resolver: agent.Resolver, Filter: agent.Filter, Component: agent.Component,
				Namer: agent.Namer, Log: deliverLog.With("queue_id", m.ID), FolderFallback: agent.FolderFallback,
				UsageNotUpdated: agent.UsageNotUpdated, QuotaCached: agent.QuotaCached}
			data, err := m.OpenData()
			if err != nil {
				return diag.PathError("ebb serve", "open", "open the message", m.File, err, d.cfg.Setting("queue.spool"))
			}
			defer data.Close()
			rep, err := a.DeliverFrom(withExternal(ctx, m), data, m.File, deliver.Envelope{
				Sender: m.From(), Recipient: r.Address, Prefix: []byte(m.Prefix()), Done: deliveredInMessage(m, r),
				Folder: m.Envelope.Folder, StripAuthResults: authservID, RenameVerdicts: true,
			})
			if rep != nil {
				// Mailboxes of an alias that got the message are not
				// delivered again when the others are retried.
				r.Done = append(r.Done, rep.Delivered()...)
			}
			if err == nil {
				d.jr.delivered(m, r.Address, rep) // the journal: folder, file, uid
				d.reportIntake(ctx, m, r.Address) // reports.go: a TLS or DMARC report for a hosted domain
			}
			if err != nil {
				return err
			}
			if rep != nil && len(rep.Forwards) > 0 {
				return d.forward(ctx, m, r, rep.Forwards)
			}
			return nil
		}),
		Remote: d.remote(),
		Resume: d.resumeRelay,
	}
}

// deliveryLinger is how long a delivery's flush waits for a receive's to
// ride on (safeio.Group.DoWithin): about one message's time at a single
// session here (3-5 ms), so that with one client a message costs one flush
// instead of three; under load flushes come far more often. Only the
// delivery's latency grows, by at most twice this.
const deliveryLinger = 5 * time.Millisecond

// forward queues a copy of m for the remote addresses an alias of r leads
// to (they wait for an outbound transport, visible in mailq). An error
// retries r's whole attempt.
func (d *daemon) forward(ctx context.Context, m *queue.Message, r *queue.Recipient, to []string) error {
	f, err := m.OpenData()
	if err != nil {
		return diag.PathError("ebb serve", "open", "open the message to forward", m.File, err, d.cfg.Setting("queue.spool"))
	}
	defer f.Close()
	env := m.Envelope
	env.Recipients = to
	// With SRS, the copy leaves with a sender of ours, so that SPF at the
	// next hop passes (srs.go); without, as it came.
	var why string
	env.From, why = d.srsSender(ctx, m, env.From, to)
	// The alias's NOTIFY and an ORCPT naming it go on (forward_dsn.go).
	var handoff *queue.Handoff
	env.RcptDSN, handoff = forwardDSN(m, r, to)
	id, err := d.q.Receive(ctx, &env, f, d.srsNoted(why)) // a sender not rewritten: in the copy's journal
	if err != nil {
		return err
	}
	r.Relay = handoff // the alias's own success DSN: none, or "expanded"
	d.log.Info("forwarded to remote addresses", "queue_id", m.ID, "rcpt", r.Address,
		"forward_queue_id", id, "forwards", strings.Join(to, ","), "sender", env.From, "srs", env.From != m.Envelope.From)
	return nil
}
