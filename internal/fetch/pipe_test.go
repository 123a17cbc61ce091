package fetch

import (
	"bytes"
	"context"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/fetchstate"
	"github.com/ebbmail/ebb/internal/queue"
)

// overlapSink is the test queue whose Receive, once it has read a message
// whole, waits (as for its flush) until another message is being taken
// too, or 3 s: a pass that reads on while a message is made durable gets
// two at once; one that waits for each message does not.
type overlapSink struct {
	*testQueue
	mu     sync.Mutex
	inside int
	most   int
	two    chan struct{}
	once   sync.Once
}

func newOverlapSink(q *testQueue) *overlapSink { return &overlapSink{testQueue: q, two: make(chan struct{})} }

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
	case <-time.After(3 * time.Second):
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
