package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

func TestAppendReadStory(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	j, err := Open(dir, 14*24*time.Hour, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	must := func(r Record) {
		t.Helper()
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	de := &diag.Error{Op: "create", Doing: "create a file in", Path: "/mail/bob/Maildir/tmp", Errno: "EACCES",
		Reason: "permission denied", Class: diag.Temporary, Hint: "make it writable"}
	must(Record{Event: "received", QueueID: "A1", From: "alice@example.org", To: []string{"bob@example.test"}, Size: 2048, MessageID: "<x@y>"})
	must(Record{Event: "deferred", QueueID: "A1", Rcpt: "bob@example.test", Route: "local", Attempt: 1, Error: de})
	must(Record{Event: "received", QueueID: "B2", From: "carol@example.org", To: []string{"dave@example.test"}})
	must(Record{Event: "delivered", QueueID: "A1", Rcpt: "bob@example.test", Route: "local", Attempt: 2, Detail: "stored for bob@example.test in /mail/bob/Maildir/new/1.x, as uid 5000"})
	j.Close()

	recs, skipped, err := Read(dir, Query{QueueID: "A1"})
	if err != nil || skipped != 0 || len(recs) != 3 {
		t.Fatalf("read A1: %d records, %d skipped, %v", len(recs), skipped, err)
	}
	story := strings.Join(Story(recs, time.UTC), "\n")
	for _, want := range []string{"received from <alice@example.org> for <bob@example.test>, 2.0 KiB, Message-ID <x@y>",
		"deferred for <bob@example.test> (local, attempt 1): cannot create a file in /mail/bob/Maildir/tmp: permission denied",
		"make it writable", "delivered to <bob@example.test> (local, attempt 2): stored for"} {
		if !strings.Contains(story, want) {
			t.Errorf("story lacks %q:\n%s", want, story)
		}
	}
	if recs, _, _ := Read(dir, Query{MessageID: "x@y"}); len(recs) != 3 {
		t.Errorf("by Message-ID: %d records", len(recs))
	}
	if recs, _, _ := Read(dir, Query{Address: "DAVE@example.test"}); len(recs) != 1 || recs[0].QueueID != "B2" {
		t.Errorf("by address: %+v", recs)
	}
}

// A crash mid-write leaves a torn last line: it is skipped, the rest reads,
// and appending goes on after it.
func TestTornLastLineIsSkipped(t *testing.T) {
	dir := t.TempDir()
	j, _ := Open(dir, 0, nil)
	j.Append(Record{Event: "received", QueueID: "A1", From: "a@example.org"})
	j.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	f, _ := os.OpenFile(files[0], os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"t":"2026-12-01T10:00:00Z","ev":"deliv`)
	f.Close()
	j, _ = Open(dir, 0, nil)
	j.Append(Record{Event: "delivered", QueueID: "A1", Rcpt: "b@example.test"})
	j.Close()
	recs, skipped, err := Read(dir, Query{QueueID: "A1"})
	if err != nil || skipped != 1 || len(recs) != 2 || recs[1].Event != "delivered" {
		// The record after the torn line is whole: the writer began
		// it on a new line.
		t.Fatalf("%d records, %d skipped, %v", len(recs), skipped, err)
	}
}

// Files of days older than journal.retention are removed when the clock
// has moved past them (at start and at each new day's first record).
func TestRetentionRemovesOldDays(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	j, _ := Open(dir, 14*24*time.Hour, clock)
	j.Append(Record{Event: "received", QueueID: "OLD"})
	now = now.Add(10 * 24 * time.Hour)
	j.Append(Record{Event: "received", QueueID: "MID"})
	if recs, _, _ := Read(dir, Query{QueueID: "OLD"}); len(recs) != 1 {
		t.Fatalf("10 days later the record must still be there")
	}
	now = now.Add(5 * 24 * time.Hour) // 15 days after the first
	j.Append(Record{Event: "received", QueueID: "NEW"})
	j.Close()
	if recs, _, _ := Read(dir, Query{QueueID: "OLD"}); len(recs) != 0 {
		t.Fatalf("15 days later the record is still there")
	}
	if recs, _, _ := Read(dir, Query{QueueID: "MID"}); len(recs) != 1 {
		t.Fatalf("the 5-day-old record is gone")
	}
}

// Concurrent writers never interleave their lines.
func TestConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	j, _ := Open(dir, 0, nil)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				j.Append(Record{Event: "received", QueueID: fmt.Sprintf("W%dI%d", w, i), Subject: strings.Repeat("x", 300)})
			}
		}()
	}
	wg.Wait()
	j.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	n, bad := 0, 0
	for _, f := range files {
		recs, b, err := readFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n += len(recs)
		bad += b
	}
	if n != 1600 || bad != 0 {
		t.Fatalf("%d records, %d bad", n, bad)
	}
}

// BenchmarkAppend is one record of the size a delivery writes.
func BenchmarkAppend(b *testing.B) {
	j, _ := Open(b.TempDir(), 0, nil)
	defer j.Close()
	r := Record{Event: "delivered", QueueID: "H0O746ROG0XEA4Y", Rcpt: "bob@example.test", Route: "local", Attempt: 1, Millis: 3,
		Detail: "stored for bob@example.test in /var/vmail/example.test/bob/Maildir/new/1796117580.M128778P17444Q1.vm,S=5429,W=5503, as uid 5000"}
	b.ReportAllocs()
	for b.Loop() {
		j.Append(r)
	}
}

func TestSummariesOneLinePerMessageInTimeOrder(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	recs := []Record{
		{Time: t0.Add(time.Hour), Event: "received", QueueID: "B", From: "x@example.net", To: []string{"a@example.org"}},
		{Time: t0, Event: "received", QueueID: "A", From: "a@example.org", To: []string{"b@example.org", "c@example.org"}, Subject: "hi"},
		{Time: t0.Add(time.Minute), Event: "delivered", QueueID: "A", Rcpt: "b@example.org"},
		{Time: t0.Add(2 * time.Minute), Event: "deferred", QueueID: "A", Rcpt: "c@example.org"},
		{Time: t0.Add(2 * time.Hour), Event: "refused", QueueID: "C", From: "s@spam.example", To: []string{"a@example.org"}},
	}
	want := []string{
		`2026-05-01 09:00:00  A  from <a@example.org>: <b@example.org> delivered, <c@example.org> deferred  "hi"`,
		`2026-05-01 10:00:00  B  from <x@example.net>: <a@example.org> waiting`,
		`2026-05-01 11:00:00  C  from <s@spam.example>: <a@example.org> refused`,
	}
	got := Summaries(recs, time.UTC)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Summaries:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The refs that are no refusal of a message: a login our trouble kept
// from being checked names the account it tried (not as logged in), and
// a message the client left says so, without a reply nobody read.
func TestStoryOfALoginAndOfAMessageTheClientLeft(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	auth := Record{Time: t0, Event: "refused", Stage: "auth", Ref: "AAAABBBB", Client: "192.0.2.1", Listener: "submission",
		Auth: "demo@example.test", Reply: "454 4.7.0 Temporary authentication failure, try again later (ref AAAABBBB)",
		Error: &diag.Error{Component: "ebb serve", Op: "auth", Reason: "database is locked", Ref: "AAAABBBB", Class: diag.Temporary}}
	left := Record{Time: t0, Event: "refused", Stage: "data", Ref: "CCCCDDDD", From: "s@example.org", To: []string{"a@example.test"},
		Size: 12, Client: "192.0.2.2", Listener: "inbound",
		Error: &diag.Error{Component: "ebb serve", Op: "data", Doing: "receive a message from", Path: "192.0.2.2",
			Reason: "the client ended the BDAT transfer without a LAST chunk, after 12 B of it; nothing was accepted", Ref: "CCCCDDDD", Class: diag.Temporary}}
	for _, tc := range []struct {
		r            Record
		want, absent []string
	}{
		{auth, []string{"login refused at AUTH for <demo@example.test>; from 192.0.2.1 on the submission listener; replied 454 4.7.0", "database is locked"},
			[]string{"authenticated as"}},
		{left, []string{"not received: the client left during the message from <s@example.org> for <a@example.test>, 12 B",
			"ended the BDAT transfer without a LAST chunk"}, []string{"replied", "refused at"}},
	} {
		s := Sentence(tc.r, time.UTC)
		for _, w := range tc.want {
			if !strings.Contains(s, w) {
				t.Errorf("%q lacks %q", s, w)
			}
		}
		for _, w := range tc.absent {
			if strings.Contains(s, w) {
				t.Errorf("%q has %q", s, w)
			}
		}
	}
}

// A ref shared by a flood of refusals: explain REF finds the refusal and
// its follow-up, and says how many it covered, from when to when.
func TestStoryOfASharedRef(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	refused := Record{Time: t0, Event: "refused", Stage: "connection", Ref: "AAAABBBB", Client: "203.0.113.9", Listener: "inbound",
		Reply: "421 4.7.0 mx Too many connections, try again later (ref AAAABBBB)",
		Error: &diag.Error{Component: "ebb serve", Op: "connection", Reason: "1 connection open", Ref: "AAAABBBB", Class: diag.Temporary}}
	repeated := Record{Time: t0.Add(59 * time.Second), Event: "repeated", Stage: "connection", Ref: "AAAABBBB", Client: "203.0.113.9",
		Listener: "inbound", Count: 1000, First: t0}
	flood := refused
	flood.Ref, flood.Error = "CCCCDDDD", &diag.Error{Component: "ebb serve", Op: "connection", Reason: "x", Ref: "CCCCDDDD"}
	flood.Detail = FloodDetail
	for _, r := range []Record{refused, repeated, flood} {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	recs, _, err := Read(dir, Query{Ref: "AAAABBBB"})
	if err != nil || len(recs) != 2 {
		t.Fatalf("records of the shared ref: %+v, %v; want the refusal and its follow-up", recs, err)
	}
	story := strings.Join(Story(recs, time.UTC), "\n")
	for _, w := range []string{"connection closed by ebb; from 203.0.113.9", "refused 1000 times in all under this ref between 09:00:00 and 09:00:59",
		"from 203.0.113.9 on the inbound listener"} {
		if !strings.Contains(story, w) {
			t.Errorf("story %q lacks %q", story, w)
		}
	}
	if s := Sentence(flood, time.UTC); !strings.Contains(s, "every further refusal of any kind from any source shares this ref") {
		t.Errorf("the flood ref's record: %q", s)
	}
}

// A received record whose Message-ID or Subject lay past the first 64 KiB
// of the header (Unshown) says they were not read, not nothing.
func TestReceivedSaysUnshownFieldsWereNotRead(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	r := Record{Time: t0, Event: "received", QueueID: "A1", From: "s@example.org", To: []string{"a@example.test"}, Size: 80 << 10,
		Subject: "early", Unshown: []string{"Message-ID"}}
	s := Sentence(r, time.UTC)
	if !strings.Contains(s, `subject "early", Message-ID not read (past the first 64 KiB of the header)`) {
		t.Errorf("%q does not say the Message-ID was not read", s)
	}
	r.Subject, r.Unshown = "", nil
	if s := Sentence(r, time.UTC); strings.Contains(s, "not read") {
		t.Errorf("%q says a field was not read", s)
	}
}

// A DSN record tells its kind, and what its note adds after it (an
// incomplete returned header): the kind still decides the words.
func TestStoryTellsTheDSNNote(t *testing.T) {
	at := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	got := strings.Join(Story([]Record{
		{Time: at, QueueID: "Q1", Event: "dsn", Rcpt: "s@example.org", DSNID: "D1",
			Detail: "failure; the returned header is incomplete: the message's header could not be read (EIO)"},
		{Time: at, QueueID: "Q1", Event: "dsn", Rcpt: "s@example.org", DSNID: "D2", Detail: "delay"},
	}, time.UTC), "\n")
	for _, want := range []string{"bounce (DSN) queued for <s@example.org> as D1; the returned header is incomplete: the message's header could not be read (EIO)",
		"delay notice (DSN) queued for <s@example.org> as D2"} {
		if !strings.Contains(got, want) {
			t.Errorf("story lacks %q:\n%s", want, got)
		}
	}
}
