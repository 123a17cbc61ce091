package fetch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetchstate"
	"github.com/ebbmail/ebb/internal/queue"
)

// overlapSink is the test queue whose Receive, once it has read a message
// whole, waits (as for its flush) until another message is being taken
// too, or 10 s: a pass that reads on while a message is made durable gets
// two at once; one that waits for each message does not.
type overlapSink struct {
	*testQueue
	mu     sync.Mutex
	inside int
	most   int
	two    chan struct{}
	once   sync.Once
}

func newOverlapSink(q *testQueue) *overlapSink {
	return &overlapSink{testQueue: q, two: make(chan struct{})}
}

func (o *overlapSink) Receive(ctx context.Context, env *queue.Envelope, data io.Reader, opt queue.ReceiveOptions) (string, error) {
	b, err := io.ReadAll(data)
	if err != nil {
		return "", err
	}
	o.mu.Lock()
	o.inside++
	o.most = max(o.most, o.inside)
	if o.inside >= 2 {
		o.once.Do(func() { close(o.two) })
	}
	o.mu.Unlock()
	select {
	case <-o.two:
	case <-time.After(10 * time.Second):
	}
	id, err := o.testQueue.Receive(ctx, env, bytes.NewReader(b), opt)
	o.mu.Lock()
	o.inside--
	o.mu.Unlock()
	return id, err
}

func (o *overlapSink) overlapped() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.most
}

// A pass reads the next message from the server while the one before is
// being made durable (the pipe): two messages are in the queue's hands at
// once, over IMAP and over POP3. Every message is still taken once,
// recorded, and deleted only once delivered; a refused one stays.
func TestAPassReadsOnWhileTheQueueFlushes(t *testing.T) {
	t.Run("imap", func(t *testing.T) {
		dir := testDirectory(t)
		o := newOverlapSink(newTestQueue(dir))
		srv := newFakeIMAP(t)
		srv.add(msg(1, ""), msg(2, ""), msg(3, "X-Test: refuse\r\n"), msg(4, ""), msg(5, ""))
		host, port := srv.addr()
		a := testAccount(t, dir, "w", host, port, "delete")
		res, err := testFetcher(dir, o).Once(context.Background(), a, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := o.overlapped(); n < 2 {
			t.Errorf("at most %d message in the queue's hands at once; the pass waited for each", n)
		}
		if got := srv.remaining(); !slices.Equal(got, uids(3)) {
			t.Fatalf("on the server: %v; want the refused 3", got)
		}
		if d := o.delivered(); len(d) != 4 || d["1"] != 1 || d["2"] != 1 || d["4"] != 1 || d["5"] != 1 || res.Fetched != 5 || res.Skipped != 1 {
			t.Fatalf("delivered %v, result %+v", d, res)
		}
	})
	t.Run("pop3", func(t *testing.T) {
		dir := testDirectory(t)
		o := newOverlapSink(newTestQueue(dir))
		s := newFakePOP3(t)
		s.mu.Lock()
		s.msgs = []popFake{{"u1", msg(1, "")}, {"u2", msg(2, "")}, {"u3", msg(3, "X-Test: refuse\r\n")}, {"u4", msg(4, "")}}
		s.mu.Unlock()
		a := popAccount(t, dir, "p", s)
		res, err := testFetcher(dir, o).Once(context.Background(), a, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := o.overlapped(); n < 2 {
			t.Errorf("at most %d message in the queue's hands at once; the pass waited for each", n)
		}
		if got := s.uidls(); !slices.Equal(got, []string{"u3"}) {
			t.Fatalf("on the server: %v; want the refused u3", got)
		}
		if d := o.delivered(); len(d) != 3 || d["u1"] != 1 || d["u2"] != 1 || d["u4"] != 1 || res.Skipped != 1 {
			t.Fatalf("delivered %v, result %+v", d, res)
		}
	})
}

// A pass that stops on the server's trouble mid-message still records
// every message already on its way into the queue: none is taken twice
// by the next pass.
func TestAStoppedPassRecordsWhatWasOnItsWay(t *testing.T) {
	dir := testDirectory(t)
	o := newOverlapSink(newTestQueue(dir))
	srv := newFakeIMAP(t)
	srv.add(msg(1, ""), msg(2, ""), msg(3, ""))
	srv.with(func(s *fakeIMAP) {
		s.body = func(uid uint32) bodyMode {
			if uid == 3 {
				return bodyCut
			}
			return bodyNormal
		}
	})
	host, port := srv.addr()
	a := testAccount(t, dir, "w", host, port, "delete")
	f := testFetcher(dir, o)
	if _, err := f.Once(context.Background(), a, nil); err == nil {
		t.Fatal("a cut body: no error")
	}
	queued, _ := fetchstate.New(dir).FetchedInFolder(context.Background(), "w", "INBOX", 0)
	srv.with(func(s *fakeIMAP) { s.body = nil })
	if _, err := f.Once(context.Background(), a, nil); err != nil {
		t.Fatal(err)
	}
	if d := o.delivered(); len(d) != 3 || d["1"] != 1 || d["2"] != 1 || d["3"] != 1 || len(srv.remaining()) != 0 {
		t.Fatalf("delivered %v (each once?), server %v; recorded after the first pass: %v", d, srv.remaining(), queued)
	}
}

// crashStore is the fetch state of an ebb killed between the queue's
// flush and the record of what the queue did: every record of a message
// as queued fails (the pass stops, as the process would), everything
// before it (the pending row) was written.
type crashStore struct{ *fetchstate.Store }

func (c crashStore) RecordFetched(ctx context.Context, account string, m fetchstate.FetchedMessage) error {
	if m.State == fetchstate.FetchQueued {
		return errors.New("killed")
	}
	return c.Store.RecordFetched(ctx, account, m)
}

func (c crashStore) MarkQueued(ctx context.Context, account string, keys []fetchstate.FetchedKey) error {
	return errors.New("killed")
}

// A crash while several messages are on their way into the queue (the
// pipe) fetches none of those the queue made durable again: each was
// recorded as pending under its queue id before the queue's flush, and
// the next pass asks the queue. One the queue still holds (deferred) is
// queued and stays on the server; delivered ones go; one that never
// became durable (its flush failed) is fetched again, once.
func TestACrashWithMessagesOnTheirWayFetchesNoneTwice(t *testing.T) {
	check := func(t *testing.T, dir *directory.Directory, q *testQueue, run func(f *Fetcher) error, account string, remaining func() []string, deferred string) {
		t.Helper()
		st := fetchstate.New(dir)
		crashed := testFetcher(dir, q)
		crashed.Store = crashStore{st}
		if err := run(crashed); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("the crashed pass: %v; want the failed record", err)
		}
		pending, err := st.FetchedByState(context.Background(), account, fetchstate.FetchPending)
		if err != nil {
			t.Fatal(err)
		}
		queued, _ := st.FetchedByState(context.Background(), account, fetchstate.FetchQueued)
		if len(pending) == 0 || len(queued) != 0 {
			t.Fatalf("after the crash: pending %v, queued %v; want pending rows only", pending, queued)
		}
		for _, m := range pending {
			if m.QueueID == "" || m.Digest == "" || m.Size == 0 || m.QueueHost != "mx.example.test" || m.Summary == "" {
				t.Fatalf("a pending row without what the queued row has: %+v", m)
			}
		}
		if err := run(testFetcher(dir, q)); err != nil {
			t.Fatal(err)
		}
		q.takenOnce(t, "1", "2", "3", "4")
		if got := remaining(); !slices.Equal(got, []string{deferred}) {
			t.Errorf("on the server: %v; want only the deferred %s", got, deferred)
		}
		rows, _ := st.FetchedByState(context.Background(), account, fetchstate.FetchPending, fetchstate.FetchQueued)
		if len(rows) != 1 || rows[0].UID != deferred || rows[0].State != fetchstate.FetchQueued || !q.Queued(rows[0].QueueID) {
			t.Errorf("rows left pending or queued: %+v; want the deferred one queued", rows)
		}
	}
	// The first is always taken before the crash (the crash is the record
	// of the second), the others may be on their way or not yet read.
	bodies := []string{msg(1, "X-Test: unflushed\r\n"), msg(2, "X-Test: defer\r\n"), msg(3, ""), msg(4, "")}
	t.Run("imap", func(t *testing.T) {
		dir, q, srv, a := imapWith(t, bodies)
		check(t, dir, q, func(f *Fetcher) error { _, err := f.Once(context.Background(), a, nil); return err }, "w", func() []string {
			var out []string
			for _, u := range srv.remaining() {
				out = append(out, strconv.Itoa(int(u)))
			}
			return out
		}, "2")
	})
	t.Run("pop3", func(t *testing.T) {
		dir, q, s, a := popWith(t, bodies)
		check(t, dir, q, func(f *Fetcher) error { _, err := f.Once(context.Background(), a, nil); return err }, "p", s.uidls, "2")
	})
}

// The pass turns its messages' pending rows queued a group at a time
// (queueEvery, and at the end of each batch): after a pass of more
// messages than a group, over IMAP and POP3 (one pipe for the whole
// pass), none is left pending, each was taken once and deleted once
// delivered.
func TestAPassLeavesNoPendingRow(t *testing.T) {
	const n = 2*queueEvery + 7
	var bodies []string
	for i := 1; i <= n; i++ {
		bodies = append(bodies, msg(i, ""))
	}
	check := func(t *testing.T, dir *directory.Directory, q *testQueue, account string, left int) {
		t.Helper()
		st := fetchstate.New(dir)
		rows, err := st.FetchedByState(context.Background(), account, fetchstate.FetchPending, fetchstate.FetchQueued)
		if err != nil || len(rows) != 0 {
			t.Fatalf("rows pending or queued after the pass: %d (%v)", len(rows), err)
		}
		if d := q.delivered(); len(d) != n || left != 0 {
			t.Fatalf("delivered %d distinct of %d, %d left on the server", len(d), n, left)
		}
		for uid, c := range q.delivered() {
			if c != 1 {
				t.Fatalf("message %s taken %d times", uid, c)
			}
		}
	}
	t.Run("imap", func(t *testing.T) {
		dir, q, srv, a := imapWith(t, bodies)
		f := testFetcher(dir, q)
		f.Cfg.Batch = n // one batch: the group of queueEvery inside it
		if _, err := f.Once(context.Background(), a, nil); err != nil {
			t.Fatal(err)
		}
		check(t, dir, q, "w", len(srv.remaining()))
	})
	t.Run("pop3", func(t *testing.T) {
		dir, q, s, a := popWith(t, bodies)
		if _, err := testFetcher(dir, q).Once(context.Background(), a, nil); err != nil {
			t.Fatal(err)
		}
		check(t, dir, q, "p", len(s.uidls()))
	})
}

// imapWith is a directory, a test queue, a fake IMAP server holding
// bodies (UIDs 1, 2, …) and the account "w" on it (after: delete).
func imapWith(t *testing.T, bodies []string) (*directory.Directory, *testQueue, *fakeIMAP, *fetchstate.FetchAccount) {
	dir := testDirectory(t)
	srv := newFakeIMAP(t)
	srv.add(bodies...)
	host, port := srv.addr()
	return dir, newTestQueue(dir), srv, testAccount(t, dir, "w", host, port, "delete")
}

// popWith is the same over POP3: UIDLs 1, 2, …, the account "p".
func popWith(t *testing.T, bodies []string) (*directory.Directory, *testQueue, *fakePOP3, *fetchstate.FetchAccount) {
	dir := testDirectory(t)
	s := newFakePOP3(t)
	s.mu.Lock()
	for i, b := range bodies {
		s.msgs = append(s.msgs, popFake{strconv.Itoa(i + 1), b})
	}
	s.mu.Unlock()
	return dir, newTestQueue(dir), s, popAccount(t, dir, "p", s)
}

// A host killed with messages on their way into its queue, whose account
// another host took over meanwhile, settles its pending rows when it
// starts again (Runner.settleLeftPending), not only at its next pass of
// that account (which may never come: the other host holds the lease).
// The other host leaves such rows alone (it cannot ask this host's
// queue); once settled, it fetches the one that never became durable.
// Every message ends in a queue exactly once.
func TestARestartedHostSettlesWhatItLeftPending(t *testing.T) {
	check := func(t *testing.T, dir *directory.Directory, q *testQueue, a *fetchstate.FetchAccount) {
		t.Helper()
		ctx := context.Background()
		st := crashWithPending(t, dir, q, a)
		other := testFetcher(dir, q)
		other.Hostname = "mx2.example.test"
		if _, err := other.Once(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		if p, _ := st.FetchedByState(ctx, a.Name, fetchstate.FetchPending); len(p) == 0 {
			t.Fatal("no pending row of the killed host left after the other host's pass: the test shows nothing")
		}
		list, err := st.FetchAccounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r := &Runner{F: testFetcher(dir, q)}
		r.settleLeftPending(ctx, list)
		if p, _ := st.FetchedByState(ctx, a.Name, fetchstate.FetchPending); len(p) != 0 {
			t.Fatalf("pending rows after the restart: %+v", p)
		}
		if _, err := other.Once(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		q.takenOnce(t, "1", "2", "3", "4")
	}
	bodies := []string{msg(1, "X-Test: unflushed\r\n"), msg(2, "X-Test: defer\r\n"), msg(3, ""), msg(4, "")}
	t.Run("imap", func(t *testing.T) {
		dir, q, _, a := imapWith(t, bodies)
		check(t, dir, q, a)
	})
	t.Run("pop3", func(t *testing.T) {
		dir, q, _, a := popWith(t, bodies)
		check(t, dir, q, a)
	})
}

// slowFlushSink is the test queue whose flush takes longer than
// fetch.timeout (a loaded disk): it has read each message whole, then
// waits before it answers.
type slowFlushSink struct {
	*testQueue
	wait time.Duration
}

func (s *slowFlushSink) Receive(ctx context.Context, env *queue.Envelope, data io.Reader, opt queue.ReceiveOptions) (string, error) {
	b, err := io.ReadAll(data)
	if err != nil {
		return "", err
	}
	time.Sleep(s.wait)
	return s.testQueue.Receive(ctx, env, bytes.NewReader(b), opt)
}

// fetch.timeout bounds the server's answers, not ebb's own work: a pass
// whose queue takes longer than it to make a message durable (the pass
// waiting for it, with nothing asked of the server) does not close a
// healthy connection as "no answer" (a CI flake: ebb fetch run exited 75
// at load 25 with fetch.timeout = 5s).
func TestASlowQueueIsNotTheServersTimeout(t *testing.T) {
	bodies := []string{msg(1, ""), msg(2, ""), msg(3, "")}
	slow := func(dir *directory.Directory, q *testQueue) *Fetcher {
		f := testFetcher(dir, &slowFlushSink{testQueue: q, wait: 600 * time.Millisecond})
		f.Cfg.Timeout = config.D(200 * time.Millisecond)
		return f
	}
	t.Run("imap", func(t *testing.T) {
		dir, q, srv, a := imapWith(t, bodies)
		if _, err := slow(dir, q).Once(context.Background(), a, nil); err != nil {
			t.Fatal(err)
		}
		if d := q.delivered(); len(d) != 3 || len(srv.remaining()) != 0 {
			t.Fatalf("delivered %v, on the server %v", d, srv.remaining())
		}
	})
	t.Run("pop3", func(t *testing.T) {
		dir, q, s, a := popWith(t, bodies)
		if _, err := slow(dir, q).Once(context.Background(), a, nil); err != nil {
			t.Fatal(err)
		}
		if d := q.delivered(); len(d) != 3 || len(s.uidls()) != 0 {
			t.Fatalf("delivered %v, on the server %v", d, s.uidls())
		}
	})
}

// The host that holds an account, waiting in IDLE, learns what another
// host's queue did with messages it fetched before (the shared state
// only, no push from the server): here the other host, killed with
// messages on their way, starts again and settles them, asking for the
// one it never made durable again. The holder's IDLE ends within a look
// (a fifth of fetch.lease) and its pass fetches that message.
func TestIDLEHolderSeesWhatAnotherHostSettled(t *testing.T) {
	dir, q, srv, a := imapWith(t, []string{msg(1, "X-Test: unflushed\r\n"), msg(2, "X-Test: defer\r\n"), msg(3, ""), msg(4, "")})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := crashWithPending(t, dir, q, a)
	holder := testFetcher(dir, q)
	holder.Hostname = "mx2.example.test"
	holder.Cfg.Lease = config.D(time.Second)
	go (&Runner{F: holder}).guarded(ctx, a, make(chan struct{}, 1))
	select {
	case <-srv.idled:
	case <-time.After(10 * time.Second):
		t.Fatalf("the holder did not enter IDLE; commands %q", srv.commands())
	}
	if p, _ := st.FetchedByState(ctx, a.Name, fetchstate.FetchPending); len(p) == 0 {
		t.Fatal("no pending row of the killed host left: the test shows nothing")
	}
	list, err := st.FetchAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	(&Runner{F: testFetcher(dir, q)}).settleLeftPending(ctx, list)
	deadline := time.Now().Add(15 * time.Second)
	for {
		taken := q.taken()
		if taken["1"] == 1 {
			q.takenOnce(t, "2", "3", "4")
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the holder in IDLE did not fetch the message the other host asked for again: taken %v; commands %q", taken, srv.commands())
		}
		select {
		case <-srv.idled: // a pass ended and IDLE began again
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// crashWithPending runs a pass of a on mx.example.test that is killed at
// its first record after the queue took a message (crashStore), leaving
// pending rows; it returns the state store.
func crashWithPending(t *testing.T, dir *directory.Directory, q *testQueue, a *fetchstate.FetchAccount) *fetchstate.Store {
	t.Helper()
	st := fetchstate.New(dir)
	crashed := testFetcher(dir, q)
	crashed.Store = crashStore{st}
	if _, err := crashed.Once(context.Background(), a, nil); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the crashed pass: %v; want the failed record", err)
	}
	return st
}
