package scan

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Policy is what a message gets when a scanner cannot answer.
type Policy string

const (
	PolicyTempfail Policy = "tempfail" // 451: the sender retries later
	PolicyAccept   Policy = "accept"   // delivered, marked not scanned
	PolicyReject   Policy = "reject"   // 554
)

// Entry is one configured scanner with its limits and policy.
type Entry struct {
	Scanner     Scanner
	MaxSize     int64  // larger messages are skipped (0: no limit of ours)
	SizeKey     string // the setting of MaxSize, named in the header ("scan.spamd.max_size")
	Key         string // the scanner's config section ("scan.spamd"), named in fixes
	OnFailure   Policy
	RejectScore float64 // spam at or above is refused (0: never)
}

// Options tune the engine.
type Options struct {
	Parallel        bool
	TotalTimeout    time.Duration
	BreakerFailures int
	BreakerInterval time.Duration
	Metrics         *Metrics // nil: no metrics
	Logger          *slog.Logger
	Now             func() time.Time
	// OnBreaker, if set, is called with every breaker's state when one
	// opens or closes (the daemon keeps it in a file for mailq and doctor).
	OnBreaker func([]BreakerState)
}

// Engine runs the configured scanners over a message and decides.
type Engine struct {
	entries []*entry
	o       Options
}

type entry struct {
	Entry
	br breaker
}

// New makes an engine over entries, in the order they are given (the
// order a sequential run asks them and the coverage header lists them).
func New(entries []Entry, o Options) *Engine {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Engine{o: o}
	for _, en := range entries {
		e.entries = append(e.entries, &entry{Entry: en, br: breaker{max: o.BreakerFailures, interval: o.BreakerInterval}})
	}
	return e
}

// Entries are the configured scanners.
func (e *Engine) Entries() []Entry {
	var es []Entry
	for _, en := range e.entries {
		es = append(es, en.Entry)
	}
	return es
}

// Select says which kinds of scanner a message gets (authenticated
// submission has its own choice, scan.submission).
type Select struct{ Virus, Spam, Filter bool }

// All selects every scanner.
var All = Select{Virus: true, Spam: true, Filter: true}

func (s Select) has(k Kind) bool {
	switch k {
	case Virus:
		return s.Virus
	case Spam:
		return s.Spam
	case Filter:
		return s.Filter
	}
	return true
}

// Report is what the engine found and decided for one message.
type Report struct {
	Results []*Result
	Verdict Verdict
	Took    time.Duration
	entries []*entry
}

// Scan runs the selected scanners over m within the total timeout and
// returns the report; it logs one line per message and counts the metrics.
func (e *Engine) Scan(ctx context.Context, m *Message, sel Select) *Report {
	start := e.o.Now()
	ctx, cancel := withTimeout(ctx, e.o.TotalTimeout)
	defer cancel()
	var run []*entry
	for _, en := range e.entries {
		if sel.has(en.Scanner.Kind()) {
			run = append(run, en)
		}
	}
	rep := &Report{entries: run, Results: make([]*Result, len(run))}
	size, serr := m.Size()
	one := func(i int, en *entry) {
		rep.Results[i] = e.scanOne(ctx, en, m, size, serr)
	}
	if e.o.Parallel {
		var wg sync.WaitGroup
		for i, en := range run {
			wg.Add(1)
			go func() { defer wg.Done(); one(i, en) }()
		}
		wg.Wait()
	} else {
		for i, en := range run {
			one(i, en)
			if v := decide(rep.Results[:i+1], run[:i+1]); v.Refused() {
				// The first refusal ends a sequential run; those not
				// asked are not in the report.
				rep.Results, rep.entries = rep.Results[:i+1], run[:i+1]
				break
			}
		}
	}
	rep.Verdict = decide(rep.Results, rep.entries)
	rep.Took = e.o.Now().Sub(start)
	e.account(m, rep)
	return rep
}

func (e *Engine) scanOne(ctx context.Context, en *entry, m *Message, size int64, serr error) *Result {
	name := en.Scanner.Name()
	if serr != nil {
		return failure(&Result{Scanner: name, Kind: en.Scanner.Kind()}, serr) // errSpool
	}
	if en.MaxSize > 0 && size > en.MaxSize {
		// Never a truncated stream called clean: not sent at all.
		return &Result{Scanner: name, Kind: en.Scanner.Kind(), Status: Skipped, Cause: CauseSize,
			Detail: fmt.Sprintf("size %d > %s %d", size, en.SizeKey, en.MaxSize)}
	}
	now := e.o.Now()
	if open, until := en.br.allow(now); !open {
		return &Result{Scanner: name, Kind: en.Scanner.Kind(), Status: Failed, Cause: CauseBreaker,
			Detail: "breaker open until " + until.UTC().Format(time.TimeOnly),
			Err:    fmt.Errorf("%s failed %d times in a row; not asked until %s", name, en.br.max, until.UTC().Format(time.RFC3339))}
	}
	r := en.Scanner.Scan(ctx, m)
	r.Took = e.o.Now().Sub(now)
	if r.Scanner == "" {
		r.Scanner = name
	}
	switch r.Status {
	case Failed:
		if r.Cause != CauseIO && en.br.failed(e.o.Now(), r.Cause+": "+errString(r.Err)) {
			e.o.Metrics.breaker(name, true)
			e.o.Logger.Warn("scan breaker open: scanner not asked for a while", "scanner", name,
				"failures", en.br.max, "interval", en.br.interval.String(), "err", errString(r.Err))
			e.breakerChanged()
		}
	default:
		if en.br.succeeded() {
			e.o.Metrics.breaker(name, false)
			e.o.Logger.Info("scan breaker closed: scanner answers again", "scanner", name)
			e.breakerChanged()
		}
	}
	return r
}

func (e *Engine) breakerChanged() {
	if e.o.OnBreaker != nil {
		e.o.OnBreaker(e.Breakers())
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// account logs the message's scan and counts it.
func (e *Engine) account(m *Message, rep *Report) {
	args := []any{"queue_id", m.ID, "verdict", rep.Verdict.Name(), "coverage", rep.Coverage(), "ms", rep.Took.Milliseconds()}
	if rep.Verdict.Code != 0 {
		args = append(args, "code", rep.Verdict.Code, "reply", rep.Verdict.Text, "by", rep.Verdict.By)
	}
	e.o.Logger.Info("scan", args...)
	for i, r := range rep.Results {
		e.o.Metrics.result(r)
		if r.Status == Failed || r.Status == Skipped {
			pol := "accept"
			if r.Status == Failed || r.Cause == CauseScannerLimit {
				pol = string(rep.entries[i].OnFailure)
			}
			// A fail-open is loud (principle 7): its own line.
			e.o.Logger.Warn("scan: message not scanned", "queue_id", m.ID, "scanner", r.Scanner,
				"status", string(r.Status), "cause", r.Cause, "detail", r.Detail, "policy", pol, "err", errString(r.Err),
				"fix", fixFor(rep.entries[i], r).String())
		}
	}
	e.o.Metrics.verdict(rep.Verdict.Name(), rep.Took)
}
