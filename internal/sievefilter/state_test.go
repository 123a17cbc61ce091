package sievefilter

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// failingOutbox refuses to queue anything.
type failingOutbox struct{}

func (failingOutbox) Send(context.Context, string, []string, io.Reader) (string, error) {
	return "", errors.New("queue full")
}

// racedState is a State in which another delivery always claims first.
type racedState struct{ State }

func (racedState) ClaimAnswer(context.Context, string, string, string, time.Duration, time.Time) (bool, error) {
	return false, nil
}

// The vacation response is claimed before it is sent: a claim another
// delivery (another host) made first means no response; a response that
// cannot be queued gives the claim back, so the next message is answered.
func TestVacationClaimsBeforeSending(t *testing.T) {
	f, mb, out, logb := newTestFilter(t, `require "vacation";
vacation "Away.";
`)
	// Another delivery claims alice between this one's look (the
	// interpreter's Answered) and its claim.
	files := f.State
	f.State = racedState{files}
	decide(t, f, mb, testMsg, "alice@example.org")
	if len(out.sent) != 0 {
		t.Fatalf("sent %d responses although another delivery claimed the sender", len(out.sent))
	}
	f.State = files
	// Claims are per sender: carol is answered.
	msg := strings.Replace(testMsg, "alice@example.org", "carol@example.org", 1)
	decide(t, f, mb, msg, "carol@example.org")
	if len(out.sent) != 1 {
		t.Fatalf("carol: %d responses, want 1\n%s", len(out.sent), logb)
	}
	// A response that cannot be queued is not remembered.
	f.Outbox = failingOutbox{}
	msg = strings.Replace(testMsg, "alice@example.org", "dave@example.org", 1)
	decide(t, f, mb, msg, "dave@example.org")
	if ok, _ := f.State.Answered(context.Background(), mb.Address, "", "dave@example.org", time.Now()); ok {
		t.Fatal("a response that was not sent is remembered: dave would never be answered within the period")
	}
	if !strings.Contains(logb.String(), "vacation response not sent") {
		t.Errorf("the log does not say the response was not sent:\n%s", logb)
	}
}

// FileState keeps records until their end and gives claims back.
func TestFileStateRecords(t *testing.T) {
	s := &FileState{VacationDir: t.TempDir(), DuplicateDir: t.TempDir()}
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	if ok, _ := s.ClaimAnswer(ctx, "Bob@x", "h", "A@y", time.Hour, now); !ok {
		t.Fatal("first claim refused")
	}
	if ok, _ := s.ClaimAnswer(ctx, "bob@x", "h", "a@y", time.Hour, now.Add(time.Minute)); ok {
		t.Fatal("claimed twice within the period (addresses compare without case)")
	}
	if ok, _ := s.ClaimAnswer(ctx, "bob@x", "h", "a@y", time.Hour, now.Add(2*time.Hour)); !ok {
		t.Fatal("not claimed after the period")
	}
	if err := s.Unclaim(ctx, "bob@x", "h", "a@y"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Answered(ctx, "bob@x", "h", "a@y", now.Add(2*time.Hour)); ok {
		t.Fatal("answered after the claim was given back")
	}
}
