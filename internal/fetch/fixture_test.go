package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetchstate"
	"github.com/ebbmail/ebb/internal/queue"
)

// testDirectory is a real directory (SQLite in a temp dir) with the
// domain example.test and the mailbox alice@example.test.
func testDirectory(t testing.TB) *directory.Directory {
	t.Helper()
	c := config.Defaults()
	c.Server.DataDir = t.TempDir()
	c.Directory.CacheTTL = config.D(0)
	d, err := directory.Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx := context.Background()
	if err := d.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddMailbox(ctx, directory.Mailbox{Address: "alice@example.test", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	return d
}

// testQueue stands in for the daemon's sink (queue + delivery + notices)
// and decides how each message ends by its body: a line "X-Test: refuse"
// is refused by the delivery (a loop, say), "X-Test: reject" at receive
// (a scanner), "X-Test: defer" waits in the queue, "X-Test: unflushed"
// fails the first time after the queue gave it an id (its flush failed,
// or ebb stopped there), and is queued the next time. The outcome is
// recorded in the directory before Receive returns: the queue answering
// before the fetcher's own record, the race the directory must take.
type testQueue struct {
	dir *directory.Directory

	mu      sync.Mutex
	n       int
	bodies  map[string]string // queue id → data
	uids    map[string]string // queue id → UID (from the Received header)
	pending map[string]bool
	notices []Notice
	wake    chan struct{}
	// ready, when set, is the mailbox's pre-check.
	ready func(size int64) error
	// panicOn, when a body contains it, makes Receive panic (a bug).
	panicOn string
	// unflushed: bodies of "X-Test: unflushed" failed once already.
	unflushed map[string]bool
}

func newTestQueue(dir *directory.Directory) *testQueue {
	return &testQueue{dir: dir, bodies: map[string]string{}, uids: map[string]string{}, pending: map[string]bool{}, wake: make(chan struct{})}
}

var uidInReceived = regexp.MustCompile(`(?:uid \d+/|uidl )(\S+?)\)`)

func (q *testQueue) Receive(ctx context.Context, env *queue.Envelope, data io.Reader, opt queue.ReceiveOptions) (string, error) {
	b, err := io.ReadAll(data)
	if err != nil {
		return "", err
	}
	body := string(b)
	if q.panicOn != "" && strings.Contains(body, q.panicOn) {
		panic("a bug in the sink")
	}
	if strings.Contains(body, "X-Test: reject") {
		e := diag.New("scan", "accept the message", "", errors.New("clamd found Eicar-Test-Signature"))
		e.Class = diag.Permanent
		return "", e
	}
	q.mu.Lock()
	q.n++
	id := fmt.Sprintf("Q%07d", q.n)
	if strings.Contains(body, "X-Test: unflushed") && !q.unflushed[body] {
		if q.unflushed == nil {
			q.unflushed = map[string]bool{}
		}
		q.unflushed[body] = true
		q.mu.Unlock()
		opt.PrefixFor(id)
		e := diag.New("fsync", "syncfs the filesystem of", "/spool", errors.New("input/output error"))
		e.Class = diag.Temporary
		return "", e
	}
	q.bodies[id] = body
	if m := uidInReceived.FindStringSubmatch(opt.PrefixFor(id)); m != nil {
		q.uids[id] = m[1]
	}
	q.mu.Unlock()
	outcome, reason := fetchstate.OutcomeDelivered, ""
	switch {
	case strings.Contains(body, "X-Test: refuse"):
		outcome, reason = fetchstate.OutcomeRefused, "ebb serve: cannot deliver to alice@example.test: mail forwarding loop"
	case strings.Contains(body, "X-Test: defer"):
		outcome, reason = fetchstate.OutcomeDeferred, "it waits in the queue: the Maildir is not writable"
		q.mu.Lock()
		q.pending[id] = true
		q.mu.Unlock()
	}
	q.settle(id, outcome, reason)
	return id, nil
}

// settle records how the queue ended id, and wakes the fetcher.
func (q *testQueue) settle(id, outcome, reason string) {
	if err := fetchstate.New(q.dir).RecordFetchOutcome(context.Background(), id, outcome, reason, "public "+reason, "REF"+id); err != nil {
		panic(err)
	}
	q.mu.Lock()
	if outcome != fetchstate.OutcomeDeferred {
		delete(q.pending, id)
	}
	close(q.wake)
	q.wake = make(chan struct{})
	q.mu.Unlock()
}

func (q *testQueue) Ready(ctx context.Context, rcpt string, size int64) error {
	if q.ready != nil {
		return q.ready(size)
	}
	return nil
}

func (q *testQueue) Queued(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending[id]
}

func (q *testQueue) Settled() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.wake
}

func (q *testQueue) Notify(ctx context.Context, n Notice) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.notices = append(q.notices, n)
	return nil
}

// delivered is the UIDs whose messages reached the queue and were
// delivered (not refused, not deferred).
func (q *testQueue) delivered() map[string]int {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := map[string]int{}
	for id, uid := range q.uids {
		b := q.bodies[id]
		if !strings.Contains(b, "X-Test: refuse") && !q.pending[id] {
			out[uid]++
		}
	}
	return out
}

// taken is how many times each UID's message reached the queue.
func (q *testQueue) taken() map[string]int {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := map[string]int{}
	for _, uid := range q.uids {
		out[uid]++
	}
	return out
}

// takenOnce fails t for each of uids whose message reached the queue
// other than once.
func (q *testQueue) takenOnce(t *testing.T, uids ...string) {
	t.Helper()
	taken := q.taken()
	for _, uid := range uids {
		if taken[uid] != 1 {
			t.Errorf("message %s in the queue %d times; want once (taken: %v)", uid, taken[uid], taken)
		}
	}
}

func (q *testQueue) noticed() []fetchstate.FetchedMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []fetchstate.FetchedMessage
	for _, n := range q.notices {
		out = append(out, n.Messages...)
	}
	return out
}

// testFetcher is a Fetcher on dir and q with short timeouts.
func testFetcher(dir *directory.Directory, q Sink) *Fetcher {
	c := config.Defaults().Fetch
	c.Timeout = config.D(5 * time.Second)
	c.BackoffMin, c.BackoffMax = config.D(50*time.Millisecond), config.D(100*time.Millisecond)
	c.Interval = config.D(50 * time.Millisecond)
	return &Fetcher{Cfg: c, Store: fetchstate.New(dir), Sink: q, Hostname: "mx.example.test", SettleWait: 2 * time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// testAccount adds an IMAP account of the fake server to dir.
func testAccount(t testing.TB, dir *directory.Directory, name, host string, port int, after string) *fetchstate.FetchAccount {
	t.Helper()
	a := fetchstate.FetchAccount{Name: name, Protocol: "imap", Host: host, Port: port, TLS: "none", Username: "alice", Password: "pw",
		Auth: "password", Mailbox: "alice@example.test", After: after, Enabled: true, Folders: []string{"INBOX"}}
	if after == "move" {
		a.MoveTo = "Archive"
	}
	if err := fetchstate.New(dir).AddFetchAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	got, err := fetchstate.New(dir).FetchAccount(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// msg is a small message; extra is more header lines.
func msg(n int, extra string) string {
	return fmt.Sprintf("From: carol@remote.example\r\nSubject: message %d\r\n%sMessage-ID: <m%d@remote.example>\r\n\r\nbody of %d\r\n", n, extra, n, n)
}
