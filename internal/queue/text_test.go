package queue

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

func TestWriteMessageTellsTheWholeMessage(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	data := filepath.Join(t.TempDir(), "data")
	os.WriteFile(data, []byte("Subject: hello\r\nFrom: a@example.org\r\n\r\nbody\r\n"), 0o600)
	fail := diag.New("open", "create a file in", "/var/vmail/example.org/bob/Maildir/tmp", syscall.EACCES)
	fail.Ref = "ABCD1234"
	m := &Message{ID: "Q1", Size: 1536, Arrived: now.Add(-2 * time.Hour), Held: true, File: data,
		Envelope: Envelope{From: "a@example.org", ClientAddr: "192.0.2.1", ClientHelo: "client.example",
			Proto: "ESMTPS", AuthUser: "a", Prefix: "Received: by ebb\r\n"},
		Recipients: []*Recipient{
			{Address: "bob@example.org", State: Deferred, Attempts: 3, Last: now.Add(-time.Minute), Next: now.Add(10 * time.Minute), Error: fail},
			{Address: "carol@example.org", State: Delivered, Attempts: 1},
		},
		History: []Attempt{{Time: now.Add(-time.Minute), Recipient: "bob@example.org", Outcome: Deferred, Duration: 1500 * time.Microsecond, Error: fail}},
	}
	var b bytes.Buffer
	WriteMessage(&b, m, now)
	out := b.String()
	for _, want := range []string{
		"Message Q1\n",
		"(1.5 KiB)",
		"  from:      <a@example.org>\n",
		`  client:    192.0.2.1 helo "client.example"`,
		"  protocol:  ESMTPS\n",
		"  held:      yes (ebb queue release Q1)\n",
		"  deferred  <bob@example.org>  attempts 3",
		"  ref ABCD1234",
		"            cannot create a file in /var/vmail/example.org/bob/Maildir/tmp",
		"  delivered <carol@example.org>  attempts 1\n",
		"Headers:\n  Received: by ebb\n  Subject: hello\n  From: a@example.org\n",
		"History:\n",
		"deferred  <bob@example.org>  (2ms)  ref ABCD1234\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	// A delivered recipient shows no reason; a message without attempts says so.
	if strings.Count(out, "cannot create") != 2 {
		t.Errorf("the reason should show once per failure (recipient, history):\n%s", out)
	}
	m.History, m.File = nil, filepath.Join(t.TempDir(), "gone")
	b.Reset()
	WriteMessage(&b, m, now)
	if !strings.Contains(b.String(), "  no attempt yet\n") || !strings.Contains(b.String(), "(cannot read the data file:") {
		t.Errorf("no history, no data file:\n%s", b.String())
	}
}

func TestWriteListingJSONCarriesTheSummary(t *testing.T) {
	var b bytes.Buffer
	if err := WriteListingJSON(&b, &Listing{Spool: "/var/spool/ebb"}, Summary{}); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if msgs, ok := got["messages"].([]any); !ok || len(msgs) != 0 {
		t.Errorf("an empty queue has messages [] for scripts: %s", b.String())
	}
	if _, ok := got["summary"]; !ok {
		t.Errorf("no summary: %s", b.String())
	}
}

// mailq's answer, for ebb mailq and for sendmail -bp through the daemon:
// the listing as text or JSON; a spool that cannot be read writes nothing.
func TestWriteMailq(t *testing.T) {
	cfg := testConfig(t)
	var b bytes.Buffer
	if err := WriteMailq(&b, cfg, false, time.Now()); err == nil || b.Len() != 0 {
		t.Fatalf("no spool: %v, wrote %q", err, b.String())
	}
	q := openQueue(t, cfg)
	id, err := q.Receive(t.Context(), &Envelope{From: "a@example.org", Recipients: []string{"b@example.net"}}, strings.NewReader("Subject: x\r\n\r\nhi\r\n"), ReceiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	if err := WriteMailq(&b, cfg, false, time.Now()); err != nil || !strings.Contains(b.String(), id+"  ") || !strings.Contains(b.String(), "<b@example.net>") {
		t.Errorf("text: %v\n%s", err, b.String())
	}
	b.Reset()
	var out struct {
		Messages []struct{ ID string } `json:"messages"`
		Summary  Summary               `json:"summary"`
	}
	if err := WriteMailq(&b, cfg, true, time.Now()); err != nil || json.Unmarshal(b.Bytes(), &out) != nil || len(out.Messages) != 1 || out.Messages[0].ID != id {
		t.Errorf("json: %v\n%s", err, b.String())
	}
	if n := Done([]OpResult{{ID: "A"}, {ID: "B", Error: "no such message"}, {ID: "C"}}); n != 2 {
		t.Errorf("Done = %d", n)
	}
}

// ebb queue show: the messages asked for, a blank line between two; an
// id not in the queue is an error and the others are still shown.
func TestWriteMessages(t *testing.T) {
	cfg := testConfig(t)
	q := openQueue(t, cfg)
	var ids []string
	for _, to := range []string{"b@example.net", "c@example.net"} {
		id, err := q.Receive(t.Context(), &Envelope{From: "a@example.org", Recipients: []string{to}}, strings.NewReader("Subject: x\r\n\r\nhi\r\n"), ReceiveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	q.Close()
	var b bytes.Buffer
	errs := WriteMessages(&b, cfg.Queue.Spool, []string{ids[0], "NOSUCH1234", ids[1]}, time.Now())
	s := b.String()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "NOSUCH1234") || strings.Count(s, "Message ") != 2 ||
		!strings.Contains(s, "\n\nMessage "+ids[1]) || !strings.HasPrefix(s, "Message "+ids[0]) {
		t.Errorf("errors %v\n%s", errs, s)
	}
}
