package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

// testConfig is a config whose spool is in a fresh temporary directory and
// whose retries are quick.
func testConfig(t *testing.T) *config.Config { return testConfigB(t) }

func testConfigB(t testing.TB) *config.Config {
	t.Helper()
	cfg := config.Defaults()
	cfg.Queue.Spool = filepath.Join(t.TempDir(), "spool")
	cfg.Queue.RetryMin = config.D(50 * time.Millisecond)
	cfg.Queue.RetryMax = config.D(200 * time.Millisecond)
	cfg.Queue.Workers = 4
	cfg.Server.Hostname = "mx.example.test"
	return cfg
}

func openQueue(t *testing.T, cfg *config.Config) *Queue {
	t.Helper()
	q, err := Open(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// delivery is one call the recording transport saw.
type delivery struct {
	ID, Rcpt, From string
	Content        string // prefix + data, as a transport writes it
}

// recorder is a Transport implemented for the tests: it reads what a real
// transport reads (prefix, then the spool data file) and records it. outcome
// decides each call's result.
type recorder struct {
	mu      sync.Mutex
	calls   []delivery
	outcome func(rcpt string) error
	notify  chan delivery
}

func newRecorder() *recorder { return &recorder{notify: make(chan delivery, 1000)} }

func (r *recorder) Deliver(ctx context.Context, m *Message, rcpt *Recipient) error {
	f, err := m.OpenData()
	if err != nil {
		return err
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return err
	}
	d := delivery{ID: m.ID, Rcpt: rcpt.Address, From: m.From(), Content: m.Prefix() + string(b)}
	var res error
	r.mu.Lock()
	if r.outcome != nil {
		res = r.outcome(rcpt.Address)
	}
	r.calls = append(r.calls, d)
	r.mu.Unlock()
	if res == nil {
		r.notify <- d
	}
	return res
}

func (r *recorder) setOutcome(f func(string) error) {
	r.mu.Lock()
	r.outcome = f
	r.mu.Unlock()
}

func (r *recorder) count(rcpt string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if c.Rcpt == rcpt {
			n++
		}
	}
	return n
}

// wait returns the next successful delivery.
func (r *recorder) wait(t *testing.T) delivery {
	t.Helper()
	select {
	case d := <-r.notify:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10s")
	}
	return delivery{}
}

func run(t *testing.T, q *Queue, tr Transports) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx, tr) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func receive(t *testing.T, q *Queue, from string, data string, rcpts ...string) string {
	t.Helper()
	id, err := q.Receive(context.Background(), &Envelope{From: from, Recipients: rcpts,
		Prefix: "Received: from test\r\n"}, strings.NewReader(data), ReceiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func tempError(msg string) *diag.Error {
	e := diag.New("create", "create a file in", "/var/mail/example.test/bob/Maildir/tmp", syscall.EACCES)
	e.Class = diag.Temporary
	e.Hint = msg
	return e
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func spoolFiles(t *testing.T, q *Queue) []string {
	t.Helper()
	des, err := os.ReadDir(q.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestReceiveStoresDataAndEnvelopeThenDeliversOnce(t *testing.T) {
	q := openQueue(t, testConfig(t))
	body := "Subject: hi\r\n\r\nhello\r\n"
	id := receive(t, q, "alice@example.org", body, "bob@example.test")
	// Durable before Receive returned: its one file is in place.
	if files := spoolFiles(t, q); len(files) != 1 || files[0] != id+msgExt {
		t.Fatalf("after Receive: %v", files)
	}
	id2, err := q.Receive(context.Background(), &Envelope{From: "alice@example.org", Recipients: []string{"carol@example.test"}},
		strings.NewReader(body), ReceiveOptions{PrefixFor: func(id string) string { return "Received: by mx id " + id + "\r\n" }})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := ReadMessage(q.spool, id2); m == nil || m.Envelope.Prefix != "Received: by mx id "+id2+"\r\n" {
		t.Fatalf("prefix made from the queue id: %+v", m)
	}
	q.Delete(id2)
	m, err := ReadMessage(q.spool, id)
	if err != nil {
		t.Fatal(err)
	}
	if m.Size != int64(len(body)) || m.Recipients[0].State != Pending || m.Envelope.From != "alice@example.org" {
		t.Fatalf("stored envelope: %+v", m)
	}
	rec := newRecorder()
	run(t, q, Transports{Local: rec})
	d := rec.wait(t)
	if d.ID != id || d.Rcpt != "bob@example.test" || d.Content != "Received: from test\r\n"+body {
		t.Fatalf("delivered %+v", d)
	}
	eventually(t, "spool empty after delivery", func() bool { return len(spoolFiles(t, q)) == 0 })
	if n := rec.count("bob@example.test"); n != 1 {
		t.Fatalf("delivered %d times", n)
	}
}

func TestRestartResumesEveryQueuedMessage(t *testing.T) {
	cfg := testConfig(t)
	q := openQueue(t, cfg)
	var ids []string
	for i := range 5 {
		ids = append(ids, receive(t, q, "a@example.org", fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i), "b@example.test", "c@example.test"))
	}
	q.Close() // no Run: nothing delivered, as if the daemon stopped

	q2 := openQueue(t, cfg)
	rec := newRecorder()
	run(t, q2, Transports{Local: rec})
	for range 10 {
		rec.wait(t)
	}
	eventually(t, "spool empty", func() bool { return len(spoolFiles(t, q2)) == 0 })
	// Each message queued before the stop, under its own id, once to
	// each recipient, with its own content.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	got := map[string]int{}
	for _, d := range rec.calls {
		got[d.ID+" "+d.Rcpt]++
		if i := slices.Index(ids, d.ID); i < 0 {
			t.Errorf("delivered %s, which was not queued before the restart (%v)", d.ID, ids)
		} else if !strings.Contains(d.Content, fmt.Sprintf("Subject: %d\r\n", i)) {
			t.Errorf("%s to %s carries another message's content:\n%s", d.ID, d.Rcpt, d.Content)
		}
	}
	for _, id := range ids {
		for _, r := range []string{"b@example.test", "c@example.test"} {
			if n := got[id+" "+r]; n != 1 {
				t.Errorf("%s to %s: %d deliveries, want 1", id, r, n)
			}
		}
	}
}

func TestSecondInstanceIsRefusedNamingLockAndPid(t *testing.T) {
	cfg := testConfig(t)
	openQueue(t, cfg)
	_, err := open(cfg, nil, 0)
	if err == nil {
		t.Fatal("second Open succeeded")
	}
	s := err.(*diag.Error).Sentence()
	lockPath := filepath.Join(cfg.Queue.Spool, LockFile)
	if !strings.Contains(s, lockPath) || !strings.Contains(s, fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("error does not name the lock and the pid: %s", s)
	}
	if h := LockHolder(cfg.Queue.Spool); !strings.HasPrefix(h, fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("LockHolder = %q", h)
	}
}

func TestDeferredRecipientKeepsDiagErrorAndIsRetried(t *testing.T) {
	cfg := testConfig(t)
	cfg.Queue.RetryMin = config.D(time.Hour) // only a flush retries
	cfg.Queue.RetryMax = config.D(2 * time.Hour)
	q := openQueue(t, cfg)
	rec := newRecorder()
	rec.setOutcome(func(string) error { return tempError("chmod it") })
	run(t, q, Transports{Local: rec})
	id := receive(t, q, "a@example.org", "Subject: x\r\n\r\nbody\r\n", "bob@example.test")

	var m *Message
	eventually(t, "deferred on disk", func() bool {
		var err error
		m, err = ReadMessage(q.spool, id)
		return err == nil && m.Recipients[0].State == Deferred
	})
	r := m.Recipients[0]
	if r.Attempts != 1 || r.Error == nil || r.Error.Errno != "EACCES" || r.Error.Path != "/var/mail/example.test/bob/Maildir/tmp" {
		t.Fatalf("stored recipient: %+v err %+v", r, r.Error)
	}
	if wait := r.Next.Sub(r.Last); wait < 48*time.Minute || wait > 2*time.Hour {
		t.Fatalf("next attempt in %s, want about retry_min (1h) with jitter", wait)
	}
	if len(m.History) != 1 || m.History[0].Outcome != Deferred {
		t.Fatalf("history %+v", m.History)
	}

	rec.setOutcome(nil)
	if _, err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	rec.wait(t)
	eventually(t, "spool empty", func() bool { return len(spoolFiles(t, q)) == 0 })
}

func TestBackoffDoublesWithJitterWithinBounds(t *testing.T) {
	cfg := testConfig(t)
	cfg.Queue.RetryMin = config.D(5 * time.Minute)
	cfg.Queue.RetryMax = config.D(time.Hour)
	q := openQueue(t, cfg)
	cases := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 5 * time.Minute, 6 * time.Minute},
		{2, 8 * time.Minute, 12 * time.Minute},
		{3, 16 * time.Minute, 24 * time.Minute},
		{4, 32 * time.Minute, 48 * time.Minute},
		{5, 48 * time.Minute, time.Hour},
		{50, 48 * time.Minute, time.Hour},
	}
	for _, c := range cases {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := q.backoff(c.attempt)
			if d < c.min || d > c.max {
				t.Errorf("attempt %d: wait %s outside [%s, %s]", c.attempt, d, c.min, c.max)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("attempt %d: only %d distinct waits: no jitter", c.attempt, len(seen))
		}
	}
}

func TestPermanentFailureBouncesToSenderButNeverToNullSender(t *testing.T) {
	q := openQueue(t, testConfig(t))
	rec := newRecorder()
	rec.setOutcome(func(rcpt string) error {
		if strings.HasPrefix(rcpt, "gone") {
			e := diag.New("lookup", "find the mailbox", rcpt, errors.New("no such mailbox"))
			e.Class = diag.Permanent
			e.SMTPCode, e.Enhanced, e.Public = 550, [3]int{5, 1, 1}, "No such user"
			return e
		}
		return nil
	})
	run(t, q, Transports{Local: rec})
	receive(t, q, "", "Subject: from null\r\n\r\nx\r\n", "gone1@example.test")
	receive(t, q, "alice@example.test", "Subject: to bounce\r\n\r\nx\r\n", "gone2@example.test", "ok@example.test")

	d := rec.wait(t) // ok@
	if d.Rcpt != "ok@example.test" {
		d = rec.wait(t)
	}
	dsn := rec.wait(t)
	if dsn.Rcpt != "alice@example.test" || dsn.From != "" {
		t.Fatalf("bounce went to %q from %q", dsn.Rcpt, dsn.From)
	}
	r := parseDSN(t, dsn.Content)
	if len(r.recipients) != 1 || r.recipients[0]["Final-Recipient"] != "rfc822; gone2@example.test" ||
		r.recipients[0]["Action"] != "failed" || r.recipients[0]["Status"] != "5.1.1" {
		t.Fatalf("delivery-status: %+v", r.recipients)
	}
	if !strings.Contains(r.headers, "Subject: to bounce") {
		t.Fatalf("original headers missing: %q", r.headers)
	}
	// Empty: every DSN was queued before its message left, and delivered
	// before it left in turn.
	eventually(t, "spool empty", func() bool { return len(spoolFiles(t, q)) == 0 })
	if n := rec.count(""); n != 0 {
		t.Fatal("a DSN went to <>")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, c := range rec.calls {
		if c.Rcpt == "" {
			t.Fatalf("delivery to the null sender: %+v", c)
		}
	}
}

var _ = io.EOF

// testLog sends the queue's log lines to the test's log.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
