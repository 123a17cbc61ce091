package queue

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
)

// deferAll makes every delivery fail temporarily until allowed.
func deferAll(rec *recorder) {
	rec.setOutcome(func(string) error { return tempError("fix it") })
}

func slowRetryConfig(t *testing.T) *config.Config {
	cfg := testConfig(t)
	cfg.Queue.RetryMin = config.D(time.Hour)
	cfg.Queue.RetryMax = config.D(time.Hour)
	return cfg
}

// deferredOnce runs a queue on cfg whose every attempt is deferred, and
// queues one message that has been tried once and deferred.
func deferredOnce(t *testing.T, cfg *config.Config) (*Queue, *recorder, string) {
	t.Helper()
	q := openQueue(t, cfg)
	rec := newRecorder()
	deferAll(rec)
	run(t, q, Transports{Local: rec})
	id := receive(t, q, "a@example.org", "Subject: x\r\n\r\nx\r\n", "bob@example.test")
	eventually(t, "deferred", func() bool { return stateOf(t, q, id).Recipients[0].State == Deferred })
	return q, rec, id
}

// notScheduled waits until no round is on id, then fails the test when id
// is in the ready queue or waits in the schedule: nothing attempts it until
// an operation schedules it again. (A sleep followed by "no attempt
// happened" only samples that.)
func notScheduled(t *testing.T, q *Queue, id string) {
	t.Helper()
	state := func() (e *entry, ready, waiting, busy bool) {
		q.mu.Lock()
		defer q.mu.Unlock()
		if e = q.entries[id]; e != nil {
			ready, waiting, busy = e.queued, e.hidx >= 0, e.busy
		}
		return
	}
	eventually(t, "the round on "+id+" ends", func() bool { _, _, _, busy := state(); return !busy })
	if e, ready, waiting, _ := state(); e != nil && (ready || waiting) {
		t.Fatalf("%s is scheduled (ready %v, waiting %v)", id, ready, waiting)
	}
}

func stateOf(t *testing.T, q *Queue, id string) *Message {
	t.Helper()
	m, err := ReadMessage(q.spool, id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestHoldStopsAttemptsUntilRelease(t *testing.T) {
	q, rec, id := deferredOnce(t, slowRetryConfig(t))
	if err := q.Hold(id); err != nil {
		t.Fatal(err)
	}
	if !stateOf(t, q, id).Held {
		t.Fatal("hold not stored")
	}
	rec.setOutcome(nil)
	if _, err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	notScheduled(t, q, id)
	if n := rec.count("bob@example.test"); n != 1 {
		t.Fatalf("a held message was attempted (%d attempts)", n)
	}
	if err := q.Release(id); err != nil {
		t.Fatal(err)
	}
	rec.wait(t)
	eventually(t, "spool empty", func() bool { return len(spoolFiles(t, q)) == 0 })
}

func TestDeleteRemovesWithoutBounce(t *testing.T) {
	q, rec, id := deferredOnce(t, slowRetryConfig(t))
	if err := q.Delete(id); err != nil {
		t.Fatal(err)
	}
	// A bounce would be a message in the spool: the spool is empty, and
	// the queue holds nothing else that could send one.
	if files := spoolFiles(t, q); len(files) != 0 {
		t.Fatalf("left after delete: %v", files)
	}
	q.mu.Lock()
	left := len(q.entries)
	q.mu.Unlock()
	if left != 0 || rec.count("a@example.org") != 0 {
		t.Fatalf("delete sent a bounce (%d messages queued)", left)
	}
	if err := q.Delete(id); err == nil || !strings.Contains(err.Error(), "no message") {
		t.Fatalf("second delete: %v", err)
	}
}

func TestRequeueStartsTheBackoffOver(t *testing.T) {
	q, rec, id := deferredOnce(t, slowRetryConfig(t))
	if err := q.Requeue(id); err != nil {
		t.Fatal(err)
	}
	// Requeued: tried at once, and the attempt count restarted.
	eventually(t, "second attempt", func() bool { return rec.count("bob@example.test") == 2 })
	eventually(t, "stored", func() bool {
		r := stateOf(t, q, id).Recipients[0]
		return r.State == Deferred && r.Attempts == 1
	})
	m := stateOf(t, q, id)
	if len(m.History) != 2 {
		t.Fatalf("history keeps both attempts: %+v", m.History)
	}
}

func TestFlushThroughControlSocketReachesRunningQueue(t *testing.T) {
	cfg := slowRetryConfig(t)
	_, rec, id := deferredOnce(t, cfg)
	rec.setOutcome(nil)
	eventually(t, "control socket up", func() bool {
		_, err := os.Stat(filepath.Join(cfg.Queue.Spool, ControlSocket))
		return err == nil
	})
	res, err := Control(context.Background(), cfg, nil, OpFlush, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].ID != id || res[0].Error != "" {
		t.Fatalf("results %+v", res)
	}
	rec.wait(t)
	// An unknown id is named in the result.
	res, err = Control(context.Background(), cfg, nil, OpHold, []string{"NOSUCHID0"})
	if err != nil || len(res) != 1 || !strings.Contains(res[0].Error, "no message NOSUCHID0") {
		t.Fatalf("hold unknown: %+v %v", res, err)
	}
}

func TestOfflineOperationsChangeTheSpoolForTheNextStart(t *testing.T) {
	cfg := slowRetryConfig(t)
	q := openQueue(t, cfg)
	held := receive(t, q, "a@example.org", "Subject: held\r\n\r\nx\r\n", "bob@example.test")
	gone := receive(t, q, "a@example.org", "Subject: gone\r\n\r\nx\r\n", "bob@example.test")
	kept := receive(t, q, "a@example.org", "Subject: kept\r\n\r\nx\r\n", "bob@example.test")
	q.Close()

	for _, c := range []struct {
		op Op
		id string
	}{{OpHold, held}, {OpDelete, gone}, {OpFlush, ""}} {
		var ids []string
		if c.id != "" {
			ids = []string{c.id}
		}
		if _, err := Control(context.Background(), cfg, nil, c.op, ids); err != nil {
			t.Fatalf("%s offline: %v", c.op, err)
		}
	}
	q2 := openQueue(t, cfg)
	rec := newRecorder()
	run(t, q2, Transports{Local: rec})
	d := rec.wait(t)
	if d.ID != kept {
		t.Fatalf("delivered %s, want only %s", d.ID, kept)
	}
	queued := func(id string) bool {
		q2.mu.Lock()
		defer q2.mu.Unlock()
		e := q2.entries[id]
		return e != nil && !e.removed
	}
	eventually(t, "the delivered message gone", func() bool { return !queued(kept) })
	notScheduled(t, q2, held)
	if queued(gone) {
		t.Fatalf("the deleted %s is back after the restart", gone)
	}
	rec.mu.Lock()
	n := len(rec.calls)
	rec.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d deliveries, want 1 (held and deleted ones stay undelivered)", n)
	}
	if m := stateOf(t, q2, held); !m.Held {
		t.Fatal("hold lost over the restart")
	}
}

func TestShutdownBoundsAttemptsInFlightAndKeepsTheirState(t *testing.T) {
	cfg := slowRetryConfig(t)
	cfg.Queue.StopTimeout = config.D(100 * time.Millisecond)
	q := openQueue(t, cfg)
	started := make(chan struct{})
	hang := TransportFunc(func(ctx context.Context, m *Message, r *Recipient) error {
		close(started)
		<-ctx.Done() // a delivery that never ends by itself
		return ctx.Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx, Transports{Local: hang}) }()
	id := receive(t, q, "a@example.org", "Subject: x\r\n\r\nx\r\n", "bob@example.test")
	<-started
	stop := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the stop timeout")
	}
	if d := time.Since(stop); d < 100*time.Millisecond || d > 2*time.Second {
		t.Fatalf("Run returned after %s, want about queue.stop_timeout (100ms)", d)
	}
	// The cancelled attempt is a deferral, stored; the next start retries.
	m := stateOf(t, q, id)
	if r := m.Recipients[0]; r.State != Deferred || r.Error == nil || r.Next.After(time.Now()) {
		t.Fatalf("after shutdown: %+v (want deferred, due at once)", r)
	}
}

// A control socket that cannot be made private is not served (another
// user might control the queue through it), and why is said: the path,
// the operation and the error.
func TestControlSocketNotMadePrivateIsNotServed(t *testing.T) {
	cfg := testConfig(t)
	q := openQueue(t, cfg)
	defer func(f func(string, os.FileMode) error) { chmod = f }(chmod)
	chmod = func(string, os.FileMode) error { return errors.New("operation not permitted") }
	l, err := q.listenControl()
	if err == nil {
		l.Close()
		t.Fatal("the control socket is served with the umask's mode")
	}
	path := filepath.Join(cfg.Queue.Spool, ControlSocket)
	if s := err.Error(); !strings.Contains(s, path) || !strings.Contains(s, "operation not permitted") || !strings.Contains(s, "private") {
		t.Errorf("error %q, want the socket's path, what and why", s)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		t.Error("the control socket still answers")
	}
}
