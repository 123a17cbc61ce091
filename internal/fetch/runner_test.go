package fetch

import (
	"context"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/fetchstate"
	"github.com/ebbmail/ebb/internal/queue"
)

// gatedQueue is a testQueue whose first Receive waits for release (a
// pass in the middle of taking a message), counting the Receives in
// flight at once.
type gatedQueue struct {
	*testQueue
	entered, release chan struct{}
	calls            atomic.Int32
	inFlight, most   atomic.Int32
}

func (q *gatedQueue) Receive(ctx context.Context, env *queue.Envelope, data io.Reader, opt queue.ReceiveOptions) (string, error) {
	n := q.inFlight.Add(1)
	defer q.inFlight.Add(-1)
	for {
		m := q.most.Load()
		if n <= m || q.most.CompareAndSwap(m, n) {
			break
		}
	}
	if q.calls.Add(1) == 1 {
		q.entered <- struct{}{}
		<-q.release
	}
	return q.testQueue.Receive(ctx, env, data, opt)
}

// An account changed while a pass of it is in progress (ebb serve's
// SIGHUP after an edit), or disabled and enabled again, starts again only
// once that pass has ended: no second session logs in meanwhile, no two
// Receives of the account run at once, and the message the old pass was
// taking is delivered once.
func TestRunnerChangedAccountWaitsForTheOldPass(t *testing.T) {
	t.Run("changed", func(t *testing.T) { testRestartWaits(t, false) })
	t.Run("disabled and enabled again", func(t *testing.T) { testRestartWaits(t, true) })
}

func testRestartWaits(t *testing.T, disable bool) {
	dir := testDirectory(t)
	q := &gatedQueue{testQueue: newTestQueue(dir), entered: make(chan struct{}, 1), release: make(chan struct{})}
	srv := newFakeIMAP(t)
	srv.add(msg(1, ""))
	host, port := srv.addr()
	a := testAccount(t, dir, "w", host, port, "delete")
	var mu sync.Mutex
	current := *a
	reads := make(chan struct{}, 16)
	r := &Runner{F: testFetcher(dir, q), Reload: time.Hour, Accounts: func(context.Context) ([]*fetchstate.FetchAccount, error) {
		mu.Lock()
		c := current
		mu.Unlock()
		select {
		case reads <- struct{}{}:
		default:
		}
		return []*fetchstate.FetchAccount{&c}, nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	released := false
	defer func() {
		if !released {
			close(q.release)
		}
		cancel()
		<-done
	}()
	<-reads
	select {
	case <-q.entered:
	case <-time.After(10 * time.Second):
		t.Fatalf("the first pass did not take the message; commands %q", srv.commands())
	}

	reread := func() {
		t.Helper()
		r.Reread()
		select {
		case <-reads:
		case <-time.After(10 * time.Second):
			t.Fatal("the Runner did not read the accounts again")
		}
	}
	// The account changes (its interval) while the pass takes message 1;
	// or it is disabled, and enabled again.
	if disable {
		mu.Lock()
		current.Enabled = false
		mu.Unlock()
		reread()
		mu.Lock()
		current.Enabled = true
		mu.Unlock()
	} else {
		mu.Lock()
		current.Interval = time.Hour
		mu.Unlock()
	}
	reread()
	logins := func() int {
		n := 0
		for _, c := range srv.commands() {
			if strings.HasPrefix(strings.ToUpper(c), "LOGIN ") {
				n++
			}
		}
		return n
	}
	// Before the fix the new session logged in at once; give it time to
	// show (a wait that only a failing Runner ends early).
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && logins() < 2; {
		time.Sleep(20 * time.Millisecond)
	}
	if n := logins(); n != 1 {
		t.Errorf("%d sessions logged in while the first pass was still taking message 1, want 1", n)
	}
	close(q.release)
	released = true

	// The old pass ends; the account goes on with its new settings.
	for deadline := time.Now().Add(10 * time.Second); logins() < 2 || len(srv.remaining()) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("after the old pass: %d logins, %v left on the server; commands %q", logins(), srv.remaining(), srv.commands())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m := q.most.Load(); m != 1 {
		t.Errorf("%d Receives of the account ran at once, want 1", m)
	}
	if got := q.delivered(); len(got) != 1 || got["1"] != 1 {
		t.Errorf("delivered %v, want message 1 once", got)
	}
}
