package reports

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Recorder takes the outcomes of TLS sessions and DMARC evaluations from
// the delivery and receiving goroutines without making them wait: they
// are queued in memory and written to the store in batches (every second,
// or sooner when many wait). What is still queued when the process dies
// is lost: counts for a report, never mail. A full queue drops the record,
// said in the log and ebb_reports_records_lost_total.
type Recorder struct {
	store   Store
	log     *slog.Logger
	metrics *Metrics

	mu      sync.Mutex
	tls     []TLSRecord
	dmarc   []DMARCRecord
	kick    chan struct{}
	flushed chan struct{} // closed and replaced after each flush
	done    chan struct{}
	stop    context.CancelFunc
}

// maxQueued bounds the records waiting in memory.
const maxQueued = 10000

// flushEvery is how often queued records are written.
const flushEvery = time.Second

// NewRecorder starts a recorder writing to store; Close flushes and stops
// it.
func NewRecorder(store Store, log *slog.Logger, m *Metrics) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Recorder{store: store, log: log, metrics: m, kick: make(chan struct{}, 1), flushed: make(chan struct{}),
		done: make(chan struct{}), stop: cancel}
	go r.run(ctx)
	return r
}

// TLS records one TLS session (or policy failure). Successful sessions
// are counted per policy, without addresses or details.
func (r *Recorder) TLS(rec TLSRecord) {
	if rec.Result == "" {
		rec.SendingIP, rec.ReceivingHost, rec.ReceivingIP, rec.Detail = "", "", "", ""
	}
	if rec.Count == 0 {
		rec.Count = 1
	}
	enqueue(r, &r.tls, rec, KindTLS, "a TLS session", rec.Domain)
}

// DMARC records one DMARC evaluation.
func (r *Recorder) DMARC(rec DMARCRecord) {
	if rec.Count == 0 {
		rec.Count = 1
	}
	enqueue(r, &r.dmarc, rec, KindDMARC, "a DMARC evaluation", rec.Domain)
}

// enqueue adds rec to the records of its kind waiting for the store
// (what names it in the log), unless maxQueued wait already: then it is
// lost, counted and logged. A full batch wakes the writer.
func enqueue[T any](r *Recorder, q *[]T, rec T, kind, what, domain string) {
	r.mu.Lock()
	if len(*q) >= maxQueued {
		r.mu.Unlock()
		r.metrics.lost(kind)
		r.log.Warn("reports: "+what+" was not recorded, the queue of records is full", "domain", domain)
		return
	}
	*q = append(*q, rec)
	n := len(*q)
	r.mu.Unlock()
	r.metrics.recorded(kind)
	if n >= 256 {
		r.poke()
	}
}

func (r *Recorder) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Flush writes what is queued now and waits until it is written.
func (r *Recorder) Flush() {
	r.mu.Lock()
	ch := r.flushed
	r.mu.Unlock()
	r.poke()
	select {
	case <-ch:
	case <-r.done:
	}
}

// Close writes what is queued and stops the recorder.
func (r *Recorder) Close() {
	r.stop()
	<-r.done
}

func (r *Recorder) run(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.flush()
			return
		case <-t.C:
		case <-r.kick:
		}
		r.flush()
	}
}

func (r *Recorder) flush() {
	r.mu.Lock()
	tls, dmarc := r.tls, r.dmarc
	r.tls, r.dmarc = nil, nil
	done := r.flushed
	r.flushed = make(chan struct{})
	r.mu.Unlock()
	defer close(done)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(tls) > 0 {
		if err := r.store.AddTLS(ctx, tls); err != nil {
			r.metrics.lostN(KindTLS, len(tls))
			r.log.Error("reports: cannot record TLS sessions; they are missing from the next reports", "records", len(tls), "err", err)
		}
	}
	if len(dmarc) > 0 {
		if err := r.store.AddDMARC(ctx, dmarc); err != nil {
			r.metrics.lostN(KindDMARC, len(dmarc))
			r.log.Error("reports: cannot record DMARC evaluations; they are missing from the next reports", "records", len(dmarc), "err", err)
		}
	}
}
