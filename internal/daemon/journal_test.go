package daemon

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/journal"
	"github.com/ebbmail/ebb/internal/queue"
)

// spoolAway is a checker that passes and then moves the spool's message
// directory away, so that the receive fails after its checks ran (the
// directory's fsync, queue.sync = "files").
type spoolAway struct{ moved *bool }

func (spoolAway) name() string { return "away" }
func (c spoolAway) check(_ context.Context, in *checkInput) (string, error) {
	dir := filepath.Dir(in.Msg.File)
	*c.moved = os.Rename(dir, dir+".away") == nil
	return "", nil
}

// The records kept for a message before its received event — the checks'
// verdicts and notes (checked) and the note on a message ebb makes
// (noted) — go one way (journalRecorder.keep) and are told after its
// received record, in order; a receive that fails after its checks drops
// them at once (its not-queued event names its id), not at the next
// inbound message's sweep, and the not-queued record stays as it was (its
// ref, no queue id), but for a receive the SMTP server answers for
// (ReceiveOptions.Answers: its refusal is the record).
func TestPendingRecordsOneWayAndDroppedWithAFailedReceive(t *testing.T) {
	ctx := context.Background()
	cfg := config.Defaults()
	base := t.TempDir()
	cfg.Queue.Spool = filepath.Join(base, "spool")
	cfg.Queue.Sync = "files"
	cfg.Server.Hostname = "mx.example.test"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q, err := queue.Open(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	j, err := journal.Open(filepath.Join(base, "journal"), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	jr := &journalRecorder{j: j, log: func(string, ...any) {}, pending: map[string][]journal.Record{}, detail: map[string]journal.Record{}, told: map[string]time.Time{}}
	q.SetObserver(jr.observe)
	d := &daemon{cfg: cfg, q: q, jr: jr}
	env := func() *queue.Envelope {
		return &queue.Envelope{From: "a@example.test", Recipients: []string{"b@example.test"}}
	}
	const data = "Subject: hi\r\n\r\nhi\r\n"
	read := func(id string) []journal.Record {
		recs, _, err := journal.Files(j.Dir()).Read(ctx, journal.Query{QueueID: id})
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}

	// Received: each way's records are told after the received record.
	r := &receiver{q: q, smtp: []checker{noting{"auth", "let through"}}, log: log, jr: jr}
	id, err := r.Receive(ctx, env(), strings.NewReader(data), queue.ReceiveOptions{Via: queue.ViaInbound})
	if err != nil {
		t.Fatal(err)
	}
	if recs := read(id); len(recs) != 2 || recs[0].Event != "received" || recs[0].Listener != "inbound" || recs[1].Checker != "auth" || recs[1].Detail != "let through" {
		t.Errorf("inbound message's records %+v", recs)
	}
	id, err = q.Receive(ctx, env(), strings.NewReader(data), d.noted("sieve", "vacation response sent from <b@example.test>"))
	if err != nil {
		t.Fatal(err)
	}
	if recs := read(id); len(recs) != 2 || recs[0].Event != "received" || recs[1].Checker != "sieve" || recs[1].Detail != "vacation response sent from <b@example.test>" {
		t.Errorf("noted message's records %+v", recs)
	}

	// Failed after the checks: nothing waits.
	var moved bool
	r.smtp = []checker{noting{"auth", "let through"}, spoolAway{&moved}}
	if _, err := r.Receive(ctx, env(), strings.NewReader(data), queue.ReceiveOptions{Via: queue.ViaInbound}); err == nil || !moved {
		t.Fatalf("receive with the spool moved away during its checks: %v (moved %v), want it failed", err, moved)
	}
	restore := func() { // the message directory back where the queue has it
		ents, _ := filepath.Glob(filepath.Join(cfg.Queue.Spool, "*.away"))
		for _, e := range ents {
			os.RemoveAll(strings.TrimSuffix(e, ".away"))
			os.Rename(e, strings.TrimSuffix(e, ".away"))
		}
	}
	restore()
	jr.mu.Lock()
	left := len(jr.pending)
	jr.mu.Unlock()
	if left != 0 {
		t.Errorf("%d messages' records wait after the failed inbound receive, want none", left)
	}
	opt := d.noted("sieve", "a note")
	own := opt.Check
	opt.Check = func(ctx context.Context, m *queue.Message) (string, error) {
		h, err := own(ctx, m)
		dir := filepath.Dir(m.File)
		moved = os.Rename(dir, dir+".away") == nil
		return h, err
	}
	moved = false
	if _, err := q.Receive(ctx, env(), strings.NewReader(data), opt); err == nil || !moved {
		t.Fatalf("noted receive with the spool moved away: %v (moved %v), want it failed", err, moved)
	}
	restore()
	jr.mu.Lock()
	left = len(jr.pending)
	jr.mu.Unlock()
	if left != 0 {
		t.Errorf("%d messages' records wait after the failed noted receive, want none", left)
	}
	// The SMTP server answers for our trouble (Answers): its refusal is
	// the record, within its bound; the queue's event writes none, and
	// what the checks kept is dropped all the same.
	moved = false
	if _, err := r.Receive(ctx, env(), strings.NewReader(data), queue.ReceiveOptions{Via: queue.ViaInbound, Answers: true}); err == nil || !moved {
		t.Fatalf("answered receive with the spool moved away during its checks: %v (moved %v), want it failed", err, moved)
	}
	restore()
	jr.mu.Lock()
	left = len(jr.pending)
	jr.mu.Unlock()
	if left != 0 {
		t.Errorf("%d messages' records wait after the failed answered receive, want none", left)
	}
	// The not-queued records are as before: by their ref, no queue id;
	// none for the answered receive.
	recs, _, err := journal.Files(j.Dir()).Read(ctx, journal.Query{Address: "a@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rec := range recs {
		if rec.Event == string(queue.EvNotQueued) {
			n++
			if rec.QueueID != "" || rec.Ref == "" {
				t.Errorf("not-queued record %+v: want a ref and no queue id", rec)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d not-queued records, want 2: %+v", n, recs)
	}
}
