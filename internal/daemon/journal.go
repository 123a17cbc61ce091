package daemon

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/cluster"
	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/journal"
	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/relay"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// journalRecorder turns the queue's events, the checks' verdicts and the
// local deliveries' details into journal records (internal/journal), the
// story `ebb explain` tells.
type journalRecorder struct {
	j *journal.Journal
	// shared writes to the journal every host shares (internal/cluster),
	// with j for what the database cannot take; nil: j alone.
	shared *cluster.JournalWriter
	// src is what explain reads: j's files, and the shared journal.
	src journal.Source
	log func(msg string, args ...any)
	uid int
	// lost counts records that could not be written: said in the log and
	// as ebb_journal_records_lost_total, since explain then lacks them.
	lost atomic.Uint64

	mu sync.Mutex
	// pending holds what is known of a message before the queue's
	// received event (the checks ran before it was queued) and what the
	// local transport learned before the queue's delivered event.
	pending map[string][]journal.Record
	detail  map[string]journal.Record // queue id + "\x00" + rcpt → delivered detail
	swept   time.Time                 // the last sweep of pending for abandoned entries
	// told are the refs of refusals recorded with their queue id (a
	// verdict after DATA): the session's report of the same refusal adds
	// nothing. Swept with pending.
	told map[string]time.Time
}

// startJournal opens the journal (journal.enabled) and makes the queue
// report to it. A journal that cannot be opened is logged, and mail flows
// on without it: the queue, not the journal, is the record of what is owed.
func (d *daemon) startJournal() {
	if !d.cfg.Journal.Enabled {
		return
	}
	j, err := journal.Open(d.cfg.JournalDir(), d.cfg.Journal.Retention.Duration, nil)
	if err != nil {
		de := diag.PathError("ebb serve", "open", "open the journal in", d.cfg.JournalDir(), err, d.cfg.Setting("journal.dir"))
		d.log.Error("the journal is off: ebb explain will not know the messages of this run", "diag", de)
		return
	}
	d.jr = &journalRecorder{j: j, src: journal.Files(j.Dir()), log: d.log.Warn, uid: os.Getuid(),
		pending: map[string][]journal.Record{}, detail: map[string]journal.Record{}, told: map[string]time.Time{}}
	if d.cluster != nil {
		// Shared state: the story of every host in one place (cluster.go).
		d.jr.shared = d.cluster.JournalWriter(j.Append)
		d.jr.src = journal.Sources{d.cluster.JournalSource(), d.jr.src}
	}
	d.q.SetObserver(d.jr.observe)
}

// journalMetrics exports the records the journal could not write, and
// whether it runs at all (a journal that could not be opened is off).
func (d *daemon) journalMetrics() {
	if !d.cfg.Journal.Enabled {
		return
	}
	on := 0.0
	if d.jr != nil {
		on = 1
	}
	d.metrics.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ebb_journal_up",
			Help: "1 when the journal (journal.enabled) is written, 0 when it could not be opened."},
			func() float64 { return on }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ebb_journal_records_lost_total",
			Help: "Journal records that could not be written (ebb explain lacks them; the log says why)."},
			func() float64 {
				if d.jr == nil {
					return 0
				}
				n := d.jr.lost.Load()
				if d.jr.shared != nil {
					n += d.jr.shared.Lost()
				}
				return float64(n)
			}))
	if d.jr != nil && d.jr.shared != nil {
		d.metrics.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ebb_journal_records_local_total",
			Help: "Journal records written to this host's own files instead of the shared database (it was away or behind): ebb explain on other hosts lacks them, this host's has them."},
			func() float64 { return float64(d.jr.shared.Spilled()) }))
	}
}

func (d *daemon) stopJournal() {
	if d.jr != nil {
		if d.jr.shared != nil {
			d.jr.shared.Close()
		}
		d.jr.j.Close()
	}
}

func (r *journalRecorder) append(rec journal.Record) {
	if r.shared != nil {
		r.shared.Append(rec) // never fails: what the database cannot take goes to r.j
		return
	}
	if err := r.j.Append(rec); err != nil {
		r.lost.Add(1)
		r.log("journal: cannot append a record", "queue_id", rec.QueueID, "err", err.Error())
	}
}

// checked keeps the verdicts of the checks after DATA (the header lines
// they added, then their notes) for the message's received record; a refusal is recorded at
// once, since the message never reaches the queue.
func (r *journalRecorder) checked(m *queue.Message, listener string, header string, notes []checkNote, err error) {
	if r == nil {
		return
	}
	now := time.Now().UTC()
	if err != nil {
		// The reply is the one the session gives (smtpd.ReplyFor), with the
		// same ref: SMTPReply gives de its ref, and de is the error the
		// session replies with.
		de := diag.From(err, "ebb serve", "check")
		rep := smtpd.ReplyFor(err, true)
		r.append(journal.Record{Time: now, Event: "refused", Stage: "data", QueueID: m.ID, Ref: de.EnsureRef(),
			Reply: fmt.Sprintf("%d %d.%d.%d %s", rep.Code, rep.Enhanced[0], rep.Enhanced[1], rep.Enhanced[2], rep.Message),
			From:  m.Envelope.From, To: m.Envelope.Recipients, Client: m.Envelope.ClientAddr, Helo: m.Envelope.ClientHelo,
			Auth: m.Envelope.AuthUser, Proto: m.Envelope.Proto,
			Listener: listener, Size: m.Size, Error: de, MessageID: m.MessageID})
		r.mu.Lock()
		r.told[de.Ref] = now
		r.mu.Unlock()
		return
	}
	recs := []journal.Record{{Time: now, Event: "listener", QueueID: m.ID, Listener: listener}}
	for _, h := range unfoldHeaders(header) {
		name, _, _ := strings.Cut(h, ":")
		recs = append(recs, journal.Record{Time: now, Event: "check", QueueID: m.ID, Checker: name, Detail: h})
	}
	r.keep(now, m.ID, recs, notes...)
}

// keep adds recs, then a record {check, checker, detail} for each of
// notes, to what waits for message id's received record (observe tells
// them after it, in this order): the checks' verdicts and notes
// (checked), and the notes on a message ebb makes (noted). A receive that
// fails after its check gives no received event but a not-queued one
// with its id, which drops them (observe).
func (r *journalRecorder) keep(now time.Time, id string, recs []journal.Record, notes ...checkNote) {
	for _, n := range notes {
		recs = append(recs, journal.Record{Time: now, Event: "check", QueueID: id, Checker: n.Checker, Detail: n.Detail})
	}
	if len(recs) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Bounded all the same: drop what waits longer than any receive
	// takes. Once a minute, not per message: the walk is under the lock
	// every receive takes.
	if now.Sub(r.swept) > time.Minute {
		r.swept = now
		for id, p := range r.pending {
			if now.Sub(p[0].Time) > 10*time.Minute {
				delete(r.pending, id)
			}
		}
		for ref, t := range r.told {
			if now.Sub(t) > 10*time.Minute {
				delete(r.told, ref)
			}
		}
	}
	r.pending[id] = append(r.pending[id], recs...)
}

// noted is the queue.ReceiveOptions of a message ebb makes and queues
// whose making is worth a record (principle 7; the caller logs and counts
// it): a journal record {check, checker, detail}, told by ebb explain
// right after the message's received record (keep). "" for detail: none.
func (d *daemon) noted(checker, detail string) queue.ReceiveOptions {
	jr := d.jr
	if detail == "" || jr == nil {
		return queue.ReceiveOptions{}
	}
	return queue.ReceiveOptions{Check: func(_ context.Context, qm *queue.Message) (string, error) {
		jr.keep(time.Now().UTC(), qm.ID, nil, checkNote{checker, detail})
		return "", nil
	}}
}

// delivered keeps where the local transport stored the message, for the
// queue's delivered event that follows.
func (r *journalRecorder) delivered(m *queue.Message, rcpt string, rep *deliver.Report) {
	if r == nil || rep == nil {
		return
	}
	var parts []string
	var files []string
	for _, o := range rep.Outcomes {
		if o.Err != nil {
			continue
		}
		switch {
		case o.Discarded:
			parts = append(parts, fmt.Sprintf("discarded by the Sieve script of %s", o.Mailbox))
		default:
			parts = append(parts, fmt.Sprintf("stored for %s in %s", o.Mailbox, strings.Join(o.Files, ", ")))
			files = append(files, o.Files...)
		}
		if len(o.Notes) > 0 {
			// What was not done as asked (a Sieve script skipped, a folder
			// that could not be used): principle 7.
			parts[len(parts)-1] += " (" + strings.Join(o.Notes, "; ") + ")"
		}
	}
	if len(rep.Forwards) > 0 {
		parts = append(parts, "forwarded to "+strings.Join(rep.Forwards, ", "))
	}
	det := strings.Join(parts, "; ")
	if len(files) > 0 {
		det += fmt.Sprintf(", as uid %d", r.uid)
	}
	r.mu.Lock()
	r.detail[m.ID+"\x00"+rcpt] = journal.Record{Detail: det, Files: files, UID: r.uid}
	r.mu.Unlock()
}

// deliveredNote adds note to the delivered record kept for m to rcpt
// (delivered), for what was not done after the store (principle 7).
func (r *journalRecorder) deliveredNote(m *queue.Message, rcpt, note string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := m.ID + "\x00" + rcpt
	if rec, ok := r.detail[k]; ok {
		rec.Detail += "; " + note
		r.detail[k] = rec
	}
}

// refused journals one refusal of the SMTP sessions (smtpd.Refusal) by its
// ref, so that the ref the client got opens its story in ebb explain: a
// policy's answer at MAIL or RCPT, the client's trouble at DATA (a
// message it left, with no reply), our own trouble before a queue id or
// at AUTH. A verdict after DATA was journaled already,
// with its queue id, by checked.
func (r *journalRecorder) refused(f smtpd.Refusal) {
	if r == nil || f.Err == nil {
		return
	}
	r.mu.Lock()
	_, dup := r.told[f.Err.Ref]
	r.mu.Unlock()
	if dup {
		return
	}
	reply := "" // the client left during the message: no reply reached it
	if f.Code != 0 {
		reply = fmt.Sprintf("%d %d.%d.%d %s", f.Code, f.Enhanced[0], f.Enhanced[1], f.Enhanced[2], f.Text)
	}
	auth := f.AuthUser
	if f.Stage == "auth" {
		auth = f.Account // the account the login tried (journal.Sentence)
	}
	if f.Count > 0 {
		// The follow-up of a ref that refusals of one kind from one
		// source shared (smtpd's bound, flood.go): how many, when.
		rec := journal.Record{Time: f.Time, Event: "repeated", Stage: f.Stage, Ref: f.Err.Ref, Client: f.RemoteIP,
			Listener: string(f.Kind), Count: f.Count, First: f.First}
		if f.Flood {
			rec.Detail = journal.FloodDetail
		}
		r.append(rec)
		return
	}
	rec := journal.Record{Time: f.Time, Event: "refused", Stage: f.Stage, Ref: f.Err.Ref, Reply: reply,
		From: f.From, To: f.To, Size: f.Size, Client: f.RemoteIP, Helo: f.Helo, Auth: auth,
		Listener: string(f.Kind), Error: f.Err}
	if f.Flood {
		rec.Detail = journal.FloodDetail
	}
	r.append(rec)
}

// observe is the queue's observer.
func (r *journalRecorder) observe(e queue.Event) {
	rec := journal.Record{Time: e.Time, QueueID: e.QueueID, Event: string(e.Kind), Rcpt: e.Recipient,
		Route: e.Route, Attempt: e.Attempt, Millis: e.Duration.Milliseconds(), Next: e.Next, Error: e.Error,
		DSNID: e.DSNID, Detail: e.Note}
	switch e.Kind {
	case queue.EvNotQueued:
		// Our trouble before a queue id: kept by its ref. The id it had
		// been given (after its check ran) names nothing: what waits for
		// its received record is dropped (keep).
		if e.QueueID != "" {
			r.mu.Lock()
			delete(r.pending, e.QueueID)
			r.mu.Unlock()
		}
		if e.Answered {
			// The SMTP session's refusal is its record (refused), within
			// the bound: one per ref the clients are given.
			return
		}
		rec.QueueID = ""
		rec.Ref = e.Error.Ref
		if env := e.Envelope; env != nil {
			rec.From, rec.To, rec.Client, rec.Helo, rec.Auth, rec.Proto = env.From, env.Recipients, env.ClientAddr, env.ClientHelo, env.AuthUser, env.Proto
		}
	case queue.EvReceived:
		m := e.Message
		env := m.Envelope
		rec.From, rec.To, rec.Size = env.From, env.Recipients, m.Size
		rec.Client, rec.Helo, rec.Auth, rec.Proto = env.ClientAddr, env.ClientHelo, env.AuthUser, env.Proto
		rec.MessageID, rec.Subject, rec.Unshown = m.MessageID, m.Subject, m.Unshown // read as it was stored
		r.mu.Lock()
		pend := r.pending[e.QueueID]
		delete(r.pending, e.QueueID)
		r.mu.Unlock()
		for _, p := range pend {
			if p.Event == "listener" {
				rec.Listener = p.Listener
			}
		}
		r.append(rec)
		for _, p := range pend {
			if p.Event == "check" {
				p.Time = rec.Time
				r.append(p)
			}
		}
		return
	case queue.EvDelivered:
		k := e.QueueID + "\x00" + e.Recipient
		r.mu.Lock()
		det, ok := r.detail[k]
		delete(r.detail, k)
		r.mu.Unlock()
		if ok {
			rec.Detail, rec.Files, rec.UID = det.Detail, det.Files, det.UID
		}
		if h := e.Handoff; h != nil && h.Host != "" {
			// The id the next hop gave it (Detail is the queue's note of
			// the handoff): another host of the cluster goes on with the
			// story there.
			rec.NextID = relay.RemoteID(h.Reply)
		}
	case queue.EvDeferred, queue.EvFailed:
		r.mu.Lock()
		delete(r.detail, e.QueueID+"\x00"+e.Recipient)
		r.mu.Unlock()
	}
	r.append(rec)
}

// unfoldHeaders splits the header lines the checks wrote (CRLF, possibly
// folded) into one string per field, read by mailhdr, each fold made one
// space.
func unfoldHeaders(h string) []string {
	if h == "" {
		return nil // no check wrote one (and no reader is needed)
	}
	var out []string
	br := bufpool.Reader(strings.NewReader(h))
	defer bufpool.PutReader(br) // the fields' Raw are copies
	s := mailhdr.NewScanner(br)
	for s.Scan() {
		f := s.Field()
		lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(f.Raw), "\r\n", "\n"), "\n"), "\n")
		for i := 1; i < len(lines); i++ {
			lines[i] = strings.TrimSpace(lines[i])
		}
		out = append(out, strings.Join(lines, " "))
	}
	return out
}
