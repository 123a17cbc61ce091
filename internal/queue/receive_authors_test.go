package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/policy"
)

// authorHeaders are headers that readers take differently: the sender
// check must judge each the same from the fields the queue keeps as from
// a reading of the stored copy.
var authorHeaders = []string{
	"From: alice@example.test\r\nSubject: x\r\n\r\nbody\r\n",
	"From: Alice <alice@example.test>\r\nSender: boss@example.test\r\n\r\n",
	"From: alice@example.test\r\nFrom: boss@example.test\r\n\r\n",
	"From: alice@example.test\r\nfrom: alice@example.test\r\n\r\n",
	"From: friends: alice@example.test, boss@example.test;\r\n\r\n",
	"From: undisclosed:;\r\n\r\n",
	"From : alice@example.test\r\n\r\n",
	"From\t: boss@example.test\n\n",
	"From:\r\n alice@example.test\r\n\r\n",
	"From: alice@example.test\r\nX: y\rFrom: boss@example.test\r\n\r\n",
	"From: alice@example.test\rFrom: boss@example.test\r\n\r\n",
	"From: alice@example.test\r\nthis line is text\r\nFrom: boss@example.test\r\n\r\n",
	"From: alice@example.test\r\nthis line is text\r\nFROM : boss@example.test\r\nfrom\x00: x@evil.example\r\n\r\n",
	"From someone Mon Dec  7 20:00:00 2026\r\nFrom: alice@example.test\r\n\r\n",
	"From someone Mon Dec  7 20:00:00 2026\r\nFrom boss@example.test\r\nFrom: alice@example.test\r\n\r\n",
	"From: alice@example.test",
	"From: alice@example.test\r",
	"Subject: x\r\nFrom: boss@example.test",
	"From: =?utf-8?q?boss=40example.test?= <alice@example.test>\r\n\r\n",
	"From: \"boss@example.test\" <alice@example.test>\r\n\r\n",
	"From: alice@exämple.test\r\n\r\n",
	"From: alice@[127.0.0.1]\r\n\r\n",
	"From: <alice@example.test\r\n\r\n",
	"From: alice@example.test (comment\r\n\r\n",
	"Sender: alice@example.test\r\n\r\n",
	"Sender: boss@example.test\r\n\r\n",
	"Subject: no author\r\n\r\n",
	"",
	"no header at all\r\n",
	"\r\nFrom: alice@example.test\r\n",
	"From: " + strings.Repeat("a", 70<<10) + "@example.test\r\n\r\n",
	"From   : alice@example.test, " + strings.Repeat("b", 64<<10) + "@example.test, boss@example.test\r\n\r\n",
	"X-Long: " + strings.Repeat("z", 70<<10) + "\r\nFrom: boss@example.test\r\n\r\n",
	strings.Repeat("From: alice@example.test\r\n", 60) + "\r\n",
	strings.Repeat("Sender: alice@example.test\r\n", 49) + "From: boss@example.test\r\n\r\n",
	"From: alice@example.test\r\n" + strings.Repeat("Sender: "+strings.Repeat("s", 2000)+"@example.test\r\n", 40) + "\r\n",
	"From: alice@example.test\r\nline of text\r\n" + strings.Repeat("From: x@d.example\r\n", 12) + "\r\n",
}

// sameAuthorVerdict receives data from a logged-in alice and holds the
// sender check's verdict on the fields the queue kept to its verdict on
// the stored copy (policy.Senders.MayAuthor over the spool file, the
// check's reading before the queue kept them), under each sender policy
// that reads the header. It returns whether the fields were kept.
func sameAuthorVerdict(t *testing.T, q *Queue, data string) (kept bool) {
	t.Helper()
	env := &Envelope{From: "alice@example.test", Recipients: []string{"b@example.test"}, AuthUser: "alice@example.test"}
	compared := errors.New("compared")
	var msg *Message
	opt := ReceiveOptions{Via: ViaSubmission, Check: func(ctx context.Context, m *Message) (string, error) {
		msg = m
		for _, rule := range []policy.SenderRule{policy.SenderExact, policy.SenderDomain} {
			s := &policy.Senders{Rule: rule}
			f, err := m.OpenData()
			if err != nil {
				t.Fatal(err)
			}
			br := bufpool.Reader(f)
			old, oerr := s.MayAuthor(ctx, env.AuthUser, br, m.HiddenFrom)
			bufpool.PutReader(br)
			f.Close()
			if !m.AuthorsSeen {
				continue
			}
			got, gerr := s.MayAuthorFields(ctx, env.AuthUser, m.AuthorFields, m.HiddenFrom)
			if fmt.Sprint(old, oerr) != fmt.Sprint(got, gerr) {
				t.Errorf("%q (%s): the stored copy reads %v %v; the kept fields %v %v", data, rule, old, oerr, got, gerr)
			}
		}
		return "", compared
	}}
	if _, err := q.Receive(context.Background(), env, strings.NewReader(data), opt); !errors.Is(err, compared) {
		t.Fatalf("%q: %v", data, err)
	}
	return msg.AuthorsSeen
}

// The sender check judges a message from a logged-in user by the fields
// naming its authors that the queue kept from its one reading of the
// header, with the verdict a reading of the stored copy gives (duplicated
// From:, groups, "From :", bare CRs, From: below a line of text, an mbox
// line, no line end at the end); where it keeps none (a field longer than
// MaxField, too many or too large fields, one the input ends in without a
// line end), the check reads the file as before. A message from no login
// keeps none.
func TestKeptAuthorFieldsGiveTheStoredCopysVerdict(t *testing.T) {
	q := openQueue(t, testConfig(t))
	notKept := map[int]bool{15: true, 16: true, 17: true, 30: true, 31: true, 33: true, 35: true}
	for i, data := range authorHeaders {
		if kept := sameAuthorVerdict(t, q, data); kept == notKept[i] {
			t.Errorf("%d %.60q: fields kept %v", i, data, kept)
		}
	}
	// Without a login nothing is kept, and nothing stays kept after the
	// checks.
	env := &Envelope{From: "a@example.org", Recipients: []string{"b@example.test"}}
	var seen *Message
	opt := ReceiveOptions{Check: func(_ context.Context, m *Message) (string, error) {
		if m.AuthorsSeen || m.AuthorFields != nil {
			t.Errorf("fields kept for a message without a login: %v", m.AuthorFields)
		}
		return "", nil
	}}
	if _, err := q.Receive(context.Background(), env, strings.NewReader(authorHeaders[1]), opt); err != nil {
		t.Fatal(err)
	}
	env.AuthUser = "alice@example.test"
	opt.Check = func(_ context.Context, m *Message) (string, error) { seen = m; return "", nil }
	if _, err := q.Receive(context.Background(), env, strings.NewReader(authorHeaders[1]), opt); err != nil {
		t.Fatal(err)
	}
	if seen.AuthorsSeen || seen.AuthorFields != nil {
		t.Errorf("fields still kept once queued: %v", seen.AuthorFields)
	}
}

// FuzzKeptAuthorFields: for any message, the sender check's verdict from
// the fields the queue kept is the verdict from the stored copy.
// Seeds: authorHeaders and testdata/fuzz/FuzzKeptAuthorFields (inputs
// naming From:/Sender: that a 120 s run found interesting).
func FuzzKeptAuthorFields(f *testing.F) {
	for _, h := range authorHeaders {
		if len(h) < 4096 {
			f.Add(h)
		}
	}
	q, err := Open(testConfigB(f), slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { q.Close() })
	f.Fuzz(func(t *testing.T, data string) {
		sameAuthorVerdict(t, q, data)
	})
}
