package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/directory"
)

// aliases is a tiny directory: address → mailboxes it reaches.
type aliases map[string][]string

func (a aliases) Resolve(_ context.Context, addr string) (*directory.Resolution, error) {
	r := &directory.Resolution{Address: strings.ToLower(addr)}
	for _, m := range a[strings.ToLower(addr)] {
		r.Mailboxes = append(r.Mailboxes, &directory.Mailbox{Address: m})
	}
	return r, nil
}
func (a aliases) IsLocalDomain(context.Context, string) (bool, error) { return true, nil }

var dir = aliases{
	"demo@example.test": {"demo@example.test"},
	"info@example.test": {"demo@example.test", "boss@example.test"},
	"boss@example.test": {"boss@example.test"},
	"demo@alias.test":   {"demo@example.test"},
}

func TestSenders(t *testing.T) {
	tests := []struct {
		rule SenderRule
		from string
		ok   bool
	}{
		{SenderOwn, "demo@example.test", true},
		{SenderOwn, "DEMO@Example.Test", true},
		{SenderOwn, "info@example.test", true},
		{SenderOwn, "demo@alias.test", true},
		{SenderOwn, "boss@example.test", false},
		{SenderOwn, "someone@remote.example", false},
		{SenderOwn, "", true},
		{SenderOwn, "demo%boss@example.test", false},
		{SenderExact, "demo@example.test", true},
		{SenderExact, "info@example.test", false},
		{SenderDomain, "boss@example.test", true},
		{SenderDomain, "demo@alias.test", false},
		{SenderAny, "anyone@remote.example", true},
		{SenderExact, "demo@EXAMPLE.test", true},
		{SenderExact, "demo@xn--exmple-cua.test", false},
	}
	for _, tc := range tests {
		s := &Senders{Rule: tc.rule, Directory: dir}
		r, err := s.MaySendAs(context.Background(), "demo@example.test", tc.from)
		if err != nil {
			t.Fatal(err)
		}
		if (r == nil) != tc.ok {
			t.Errorf("%s: demo sending as %q: refusal %v, want ok=%v", tc.rule, tc.from, r, tc.ok)
		}
		if r != nil && r.Code == 553 && r.Enhanced == [3]int{5, 7, 1} && !strings.Contains(r.Message, tc.from) {
			t.Errorf("refusal does not name %q: %s", tc.from, r.Message)
		}
	}
}
