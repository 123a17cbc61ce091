package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetch"
	"github.com/ebbmail/ebb/internal/fetchstate"
	"github.com/ebbmail/ebb/internal/queue"
)

// The queue's events of a fetched message become its outcome in the
// directory, and wake the passes waiting for it; other mail is left alone.
func TestFetchOutcomesRecordsOnlyFetchedMail(t *testing.T) {
	c := config.Defaults()
	c.Server.DataDir = t.TempDir()
	dir, err := directory.Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	o := newFetchOutcomes(fetchstate.New(dir), func(string, ...any) {})
	woke := o.settled()
	o.observe(queue.Event{Kind: queue.EvDelivered, QueueID: "QSMTP", Session: "smtp:1"})
	select {
	case <-woke:
		t.Fatal("an SMTP message's delivery woke the fetch passes")
	default:
	}
	o.observe(queue.Event{Kind: queue.EvFailed, QueueID: "QF", Session: "fetch:work",
		Error: &diag.Error{Op: "reject", Reason: "rejected by the mailbox's filter", Ref: "R1", Class: diag.Permanent}})
	select {
	case <-woke:
	case <-time.After(time.Second):
		t.Fatal("a fetched message's refusal woke nobody")
	}
	ctx := context.Background()
	if out, _, _, _ := fetchstate.New(dir).FetchOutcome(ctx, "QSMTP"); out != "" {
		t.Fatalf("an SMTP message got an outcome: %q", out)
	}
	out, reason, ref, _ := fetchstate.New(dir).FetchOutcome(ctx, "QF")
	if out != fetchstate.OutcomeRefused || !strings.Contains(reason, "rejected by the mailbox's filter") || ref != "R1" {
		t.Fatalf("outcome %q, %q, %q", out, reason, ref)
	}
	o.observe(queue.Event{Kind: queue.EvRemoved, QueueID: "QD", Session: "fetch:work", Note: "deleted by the operator"})
	if out, reason, _, _ := fetchstate.New(dir).FetchOutcome(ctx, "QD"); out != fetchstate.OutcomeRefused || !strings.Contains(reason, "deleted by the operator") {
		t.Fatalf("an operator's removal: %q, %q", out, reason)
	}
}

// The notice names each message, why, its story's id and how to fetch
// it again, to the owner and the postmaster, from the null sender's
// MAILER-DAEMON, marked auto-generated.
func TestFetchNoticeText(t *testing.T) {
	s := &fetchSink{hostname: "mx.example.test"}
	a := &fetchstate.FetchAccount{Name: "work", Protocol: "imap", Host: "imap.example.net", Port: 993, Username: "alice", Mailbox: "alice@example.com"}
	n := fetch.Notice{Account: a, Server: "imap.example.net:993", Messages: []fetchstate.FetchedMessage{
		{Folder: "INBOX", UIDValidity: 7, UID: "42", Size: 2048, Summary: "From: carol@example.org; Subject: hi",
			Reason: "ebb serve: cannot deliver to /var/vmail/example.com/alice/Maildir: mailbox is over quota (running as uid 998 vmail)",
			Public: "Mailbox full", QueueID: "QID1"},
		{Folder: "INBOX", UIDValidity: 7, UID: "43", Size: 300 << 10, Reason: "over smtp.max_message_size in /etc/ebb/ebb.toml", Ref: "REF2"},
	}}
	text := s.noticeText(n, []string{"alice@example.com", "postmaster@example.com"}, time.Unix(0, 0))
	for _, want := range []string{"From: Mail Delivery System <MAILER-DAEMON@mx.example.test>\r\n", "To: <alice@example.com>\r\n",
		"Cc: <postmaster@example.com>\r\n", "Auto-Submitted: auto-generated\r\n", "Subject: 2 messages from work stayed on imap.example.net",
		"1. folder INBOX, UID 42 (UIDVALIDITY 7), 2.0 KiB\r\n", "From: carol@example.org; Subject: hi", "Why: Mailbox full\r\n", "Why: not delivered here\r\n",
		"Story: ebb explain QID1", "Story: ebb explain REF2", "ebb fetch retry work 42", "ebb fetch retry work 43"} {
		if !strings.Contains(text, want) {
			t.Errorf("the notice lacks %q:\n%s", want, text)
		}
	}
	// A notice's reader gets no local path: the story has the rest.
	for _, local := range []string{"/var/vmail", "/etc/ebb", "uid 998", "running as"} {
		if strings.Contains(text, local) {
			t.Errorf("the notice tells %q:\n%s", local, text)
		}
	}
	if strings.Contains(text, "\n\n") && !strings.Contains(text, "\r\n\r\n") {
		t.Error("bare LF line ends")
	}
}
