package scan

import (
	"context"
	"strings"
	"testing"
	"time"
)

// stub is a Scanner whose answer the test decides: the engine's order,
// time bound and breaker are what is tested here (the clients are tested
// against real scanners in test/).
type stub struct {
	name  string
	kind  Kind
	delay time.Duration
	res   Result
	calls int
}

func (s *stub) Name() string                   { return s.name }
func (s *stub) Kind() Kind                     { return s.kind }
func (s *stub) Ping(ctx context.Context) error { return nil }
func (s *stub) Scan(ctx context.Context, m *Message) *Result {
	s.calls++
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return failure(&Result{Scanner: s.name, Kind: s.kind}, ctx.Err())
	}
	r := s.res
	r.Scanner, r.Kind = s.name, s.kind
	return &r
}

var testMsg = &Message{Body: "Subject: x\r\n\r\nx\r\n"}

func TestTotalTimeoutBoundsParallelScanners(t *testing.T) {
	slow1 := &stub{name: "clamd", kind: Virus, delay: 5 * time.Second, res: Result{Status: Clean}}
	slow2 := &stub{name: "spamd", kind: Spam, delay: 5 * time.Second, res: Result{Status: Ham}}
	e := New([]Entry{{Scanner: slow1, OnFailure: PolicyTempfail}, {Scanner: slow2, OnFailure: PolicyAccept}},
		Options{Parallel: true, TotalTimeout: 200 * time.Millisecond})
	start := time.Now()
	rep := e.Scan(context.Background(), testMsg, All)
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s, total_timeout is 200ms", d)
	}
	if rep.Verdict.Code != 451 || !strings.Contains(rep.Coverage(), "clamd=unscanned (timeout; policy tempfail); spamd=unscanned (timeout; policy accept)") {
		t.Errorf("verdict %+v, coverage %q", rep.Verdict, rep.Coverage())
	}
}

func TestSequentialStopsAtTheFirstRefusal(t *testing.T) {
	clam := &stub{name: "clamd", kind: Virus, res: Result{Status: Infected, Virus: "X"}}
	spam := &stub{name: "spamd", kind: Spam, res: Result{Status: Ham}}
	e := New([]Entry{{Scanner: clam, OnFailure: PolicyTempfail}, {Scanner: spam, OnFailure: PolicyAccept}}, Options{Parallel: false})
	rep := e.Scan(context.Background(), testMsg, All)
	if rep.Verdict.Code != 554 || spam.calls != 0 || len(rep.Results) != 1 {
		t.Errorf("verdict %d, spamd asked %d times, %d results", rep.Verdict.Code, spam.calls, len(rep.Results))
	}
}

func TestSubmissionSelectsKinds(t *testing.T) {
	clam := &stub{name: "clamd", kind: Virus, res: Result{Status: Clean}}
	spam := &stub{name: "spamd", kind: Spam, res: Result{Status: Ham}}
	e := New([]Entry{{Scanner: clam}, {Scanner: spam}}, Options{Parallel: true})
	rep := e.Scan(context.Background(), testMsg, Select{Virus: true})
	if spam.calls != 0 || rep.Coverage() != "clamd=clean (0.00s)" {
		t.Errorf("spamd asked %d times; coverage %q", spam.calls, rep.Coverage())
	}
}

func TestBreakerOpensAndProbes(t *testing.T) {
	now := time.Unix(1000, 0)
	down := &stub{name: "clamd", kind: Virus, res: Result{Status: Failed, Cause: CauseDown}}
	var changes int
	e := New([]Entry{{Scanner: down, OnFailure: PolicyTempfail}}, Options{BreakerFailures: 3, BreakerInterval: 30 * time.Second,
		Now: func() time.Time { return now }, OnBreaker: func([]BreakerState) { changes++ }})
	for i := 0; i < 5; i++ {
		e.Scan(context.Background(), testMsg, All)
	}
	if down.calls != 3 {
		t.Errorf("clamd asked %d times in a row while down, want 3 (then the breaker opens)", down.calls)
	}
	if st := e.Breakers(); !st[0].Open || changes != 1 {
		t.Errorf("breakers %+v, %d changes", st, changes)
	}
	rep := e.Scan(context.Background(), testMsg, All)
	if rep.Results[0].Cause != CauseBreaker || rep.Verdict.Code != 451 {
		t.Errorf("with the breaker open: %+v", rep.Results[0])
	}
	now = now.Add(31 * time.Second)
	down.res = Result{Status: Clean}
	e.Scan(context.Background(), testMsg, All) // the probe
	if down.calls != 4 || e.Breakers()[0].Open || changes != 2 {
		t.Errorf("after the interval: %d calls, breakers %+v, %d changes", down.calls, e.Breakers(), changes)
	}
}
