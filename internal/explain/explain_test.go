package explain

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/journal"
	"github.com/ebbmail/ebb/internal/queue"
)

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// What the administrator typed decides what the journal is asked.
func TestParseClassifiesTheQuery(t *testing.T) {
	for _, c := range []struct {
		text string
		want journal.Query
		addr bool
	}{
		{"<a1@example.org>", journal.Query{MessageID: "<a1@example.org>"}, false},
		{"k7qzm2ab", journal.Query{Ref: "K7QZM2AB", QueueID: "K7QZM2AB"}, false}, // a ref, as typed from a reply
		{"1a2b3c4d5e6f7", journal.Query{QueueID: "1A2B3C4D5E6F7"}, false},        // 0, 1 … are no ref
		{"Alice@Example.test", journal.Query{Address: "Alice@Example.test"}, true},
	} {
		q, err := Parse(c.text, 0, now)
		if err != nil || q.Journal != c.want || q.ByAddress != c.addr || q.Text != c.text {
			t.Errorf("Parse(%q) = %+v, %v; want %+v (by address %v)", c.text, q, err, c.want, c.addr)
		}
	}
	for _, bad := range []string{"hello", "", "abc", "x y"} {
		if _, err := Parse(bad, 0, now); err == nil || !strings.Contains(err.Error(), "neither a queue id") {
			t.Errorf("Parse(%q): %v, want a usage error", bad, err)
		}
	}
	q, _ := Parse("a@example.test", 2*time.Hour, now)
	if !q.Journal.Since.Equal(now.Add(-2*time.Hour)) || q.Since != 2*time.Hour {
		t.Errorf("--since 2h: %v / %v", q.Journal.Since, q.Since)
	}
}

// journalWith writes recs as ebb serve would and returns the directory.
func journalWith(t *testing.T, recs ...journal.Record) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "journal")
	j, err := journal.Open(dir, 0, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	return dir
}

func find(t *testing.T, dir, text string) *Answer {
	t.Helper()
	q, err := Parse(text, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Find(context.Background(), journal.Files(dir), q)
	if err != nil {
		t.Fatalf("Find(%q): %v", text, err)
	}
	return a
}

func story(a *Answer) string {
	var b bytes.Buffer
	a.Write(&b, "/nonexistent/spool", now, time.UTC)
	return b.String()
}

// A message fetched and then skipped is found by its queue id, by the ref
// its notice gives (Error.Ref, which differs from the queue id when it was
// queued) and by the mailbox; its record reads as a sentence of its own.
func TestFetchSkippedIsFoundByEveryKeyAndToldInWords(t *testing.T) {
	at := func(s int) time.Time { return now.Add(time.Duration(s) * time.Second) }
	skip := func(id, ref string) journal.Record {
		return journal.Record{Time: at(5), Event: "fetch-skipped", QueueID: id, Rcpt: "alice@example.test", Size: 2048,
			Error:  &diag.Error{Component: "fetch work", Op: "fetch", Reason: "the message is larger than smtp.max_message_size", Ref: ref, Class: diag.Permanent},
			Detail: "- a message fetched from imap.example.org:993 (account work, folder INBOX, UID 7) was not delivered here and stays on that server; the mailbox owner and the postmaster are told. From: bob@example.org"}
	}
	dir := journalWith(t,
		journal.Record{Time: at(0), Event: "received", QueueID: "QUEUED1A2B3", From: "bob@example.org", To: []string{"alice@example.test"}, Size: 2048, Proto: "fetch"},
		journal.Record{Time: at(1), Event: "failed", QueueID: "QUEUED1A2B3", Rcpt: "alice@example.test", Error: &diag.Error{Op: "deliver", Reason: "over quota", Ref: "QREF2345"}},
		skip("QUEUED1A2B3", "SKIPREF2"),
		skip("NOTQUEUE", "NOTQUEUE"), // refused before a queue id: keyed by its ref
		journal.Record{Time: at(9), Event: "received", QueueID: "OTHER1A2B3", From: "carol@example.org", To: []string{"dave@example.test"}},
	)
	for _, text := range []string{"QUEUED1A2B3", "skipref2"} {
		a := find(t, dir, text)
		if len(a.Records) != 3 {
			t.Fatalf("explain %s: %d records, want the message's 3:\n%s", text, len(a.Records), story(a))
		}
		s := story(a)
		for _, w := range []string{
			"QUEUED1A2B3  fetched message for <alice@example.test> skipped (2.0 KiB): ",
			"larger than smtp.max_message_size [ref SKIPREF2]; a message fetched from imap.example.org:993 (account work, folder INBOX, UID 7) was not delivered here and stays on that server",
		} {
			if !strings.Contains(s, w) {
				t.Errorf("explain %s lacks %q:\n%s", text, w, s)
			}
		}
		if strings.Contains(s, "fetch-skipped") || strings.Contains(s, "- a message") {
			t.Errorf("explain %s: the record is not told in words of its own:\n%s", text, s)
		}
	}
	a := find(t, dir, "NOTQUEUE")
	if len(a.Records) != 1 || !strings.Contains(story(a), "NOTQUEUE  fetched message for <alice@example.test> skipped") {
		t.Errorf("explain NOTQUEUE: %d records\n%s", len(a.Records), story(a))
	}
	// By the mailbox: one line per message, the one never queued too.
	s := story(find(t, dir, "alice@example.test"))
	if !strings.Contains(s, "QUEUED1A2B3  from <bob@example.org>: <alice@example.test> fetched and skipped") ||
		!strings.Contains(s, "NOTQUEUE  from <>: <alice@example.test> fetched and skipped") || strings.Contains(s, "OTHER") {
		t.Errorf("explain alice@example.test:\n%s", s)
	}
}

// An address that finds nothing is tried as a Message-ID written without
// its <>; then the answer is that message's story.
func TestAddressLookingMessageIDIsRetried(t *testing.T) {
	dir := journalWith(t,
		journal.Record{Time: now, Event: "received", QueueID: "MSG1A2B3C4", MessageID: "<x9@mail.example.org>", From: "a@example.org", To: []string{"b@example.test"}},
		journal.Record{Time: now.Add(time.Second), Event: "delivered", QueueID: "MSG1A2B3C4", Rcpt: "b@example.test"},
	)
	a := find(t, dir, "x9@mail.example.org")
	if a.Query.ByAddress || len(a.Records) != 2 || !strings.Contains(story(a), "MSG1A2B3C4  delivered to <b@example.test>") {
		t.Errorf("by address %v, %d records:\n%s", a.Query.ByAddress, len(a.Records), story(a))
	}
	a = find(t, dir, "nobody@example.test")
	if !a.Query.ByAddress || len(a.Records) != 0 {
		t.Fatalf("nobody: %+v", a)
	}
	q, _ := Parse("nobody@example.test", 90*time.Minute, now)
	a.Query = q
	if s := story(a); s != "nothing in the journal ("+dir+") about nobody@example.test in the last 1h30m0s\n" {
		t.Errorf("nothing found: %q", s)
	}
}

// A message of the story still in the queue is shown as mailq shows it,
// once; one that left it is not; unreadable lines are counted.
func TestStoryEndsWithWhatTheQueueHoldsNow(t *testing.T) {
	cfg := config.Defaults()
	cfg.Queue.Spool = filepath.Join(t.TempDir(), "spool")
	cfg.Server.Hostname = "mx.example.test"
	q, err := queue.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := q.Receive(context.Background(), &queue.Envelope{From: "a@example.org", Recipients: []string{"b@example.test"}},
		strings.NewReader("From: a@example.org\r\nSubject: s\r\n\r\nhi\r\n"), queue.ReceiveOptions{})
	q.Close()
	if err != nil {
		t.Fatal(err)
	}
	a := &Answer{Query: Query{Text: id}, Skipped: 2, Records: []journal.Record{
		{Time: now, Event: "received", QueueID: id, From: "a@example.org", To: []string{"b@example.test"}},
		{Time: now, Event: "deferred", QueueID: id, Rcpt: "b@example.test"},
		{Time: now, Event: "delivered", QueueID: "GONE1A2B3C", Rcpt: "c@example.test"},
	}}
	var b bytes.Buffer
	a.Write(&b, cfg.Queue.Spool, now, time.UTC)
	s := b.String()
	if strings.Count(s, "now in the queue:") != 1 || !strings.Contains(s, id) || !strings.Contains(s, "b@example.test") ||
		!strings.HasSuffix(s, "(2 torn or unreadable journal lines skipped)\n") {
		t.Errorf("story:\n%s", s)
	}
	if i := strings.Index(s, "now in the queue:"); strings.Contains(s[i:], "GONE1A2B3C") {
		t.Errorf("a message that left the queue is shown in it:\n%s", s)
	}
}

// A journal directory that is not there is named with journal.dir and
// what writes it.
func TestReadNamesAMissingJournal(t *testing.T) {
	cfg := config.Defaults()
	cfg.Server.DataDir = filepath.Join(t.TempDir(), "data")
	q, _ := Parse("a@example.test", 0, now)
	_, err := Read(context.Background(), cfg, q)
	d, ok := diag.As(err)
	if !ok || !errors.Is(err, fs.ErrNotExist) || d.Path != filepath.Join(cfg.Server.DataDir, "journal") ||
		d.Setting.Key != "journal.dir" || !strings.Contains(d.Sentence(), "nothing has been journaled there yet") {
		t.Fatalf("Read: %#v", err)
	}
}
