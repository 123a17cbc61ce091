package queue

import (
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

func TestGeneralReasonMakesOneCauseOneLine(t *testing.T) {
	maildirErr := func(path string) *diag.Error {
		return diag.New("create", "create a file in", path, syscall.EACCES)
	}
	cases := []struct {
		name string
		err  *diag.Error
		rcpt string
		want string
	}{
		{"mailbox path under the default template",
			maildirErr("/var/mail/example.test/bob/Maildir/tmp"), "bob@example.test",
			"cannot create a file in /var/mail/{domain}/{local}/Maildir/tmp: permission denied"},
		{"domain and local part in other case",
			maildirErr("/srv/mail/Example.Test/Bob/Maildir/tmp"), "bob@example.test",
			"cannot create a file in /srv/mail/{domain}/{local}/Maildir/tmp: permission denied"},
		{"alias to another mailbox elides the path before Maildir",
			maildirErr("/home/carol/Maildir/tmp"), "postmaster@example.test",
			"cannot create a file in …/Maildir/tmp: permission denied"},
		{"a path shared by all stays as it is",
			diag.New("create", "create a file in", "/var/spool/ebb/queue", syscall.ENOSPC), "bob@example.test",
			"cannot create a file in /var/spool/ebb/queue: no space left on device"},
		{"remote reply with the address and a queue id of theirs",
			&diag.Error{Op: "rcpt", Doing: "deliver to", Path: "mx.example.org:25", Reason: "450 4.2.0 <bob@example.org>: Recipient address rejected: greylisted, id 8F3A2B1C9D"},
			"bob@example.org",
			"cannot deliver to mx.example.org:25: 450 4.2.0 <{address}>: Recipient address rejected: greylisted, id …"},
		{"a local part that is a word of the remote's text stays a word (issue 24)",
			&diag.Error{Op: "mail", Doing: "deliver to", Path: "mail@example.org", Reason: "mx.example.org[192.0.2.1] said at MAIL: 421 4.7.0 not taking mail now, example.org is busy"},
			"mail@example.org",
			"cannot deliver to {address}: mx.example.org[192.0.2.1] said at MAIL: 421 4.7.0 not taking mail now, {domain} is busy"},
		{"a local part and domain in a path of the text are generalised",
			&diag.Error{Op: "create", Reason: "mkdir /var/mail/example.test/now/Maildir: no space left on device, now"},
			"now@example.test",
			"cannot create: mkdir /var/mail/{domain}/{local}/Maildir: no space left on device, now"},
		{"reference ids",
			&diag.Error{Op: "scan", Reason: "scanner unreachable (ref ABCDEFGH)"}, "x@example.test",
			"cannot scan: scanner unreachable (ref …)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := GeneralReason(c.err, c.rcpt); got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestSummaryGroupsDeferralsByCause(t *testing.T) {
	now := time.Now()
	msg := func(rcpts ...*Recipient) *Message {
		return &Message{ID: "HOL00000AAAAAA", Arrived: now, Recipients: rcpts}
	}
	deferred := func(addr, path string) *Recipient {
		e := diag.New("create", "create a file in", path, syscall.EACCES)
		e.Hint = "chown vmail:vmail " + path + ", or run: ebb doctor"
		return &Recipient{Address: addr, State: Deferred, Attempts: 2, Error: e}
	}
	l := &Listing{Messages: []*Message{
		msg(deferred("a@example.test", "/var/mail/example.test/a/Maildir/tmp"), deferred("b@example.test", "/var/mail/example.test/b/Maildir/tmp")),
		msg(deferred("c@other.test", "/var/mail/other.test/c/Maildir/tmp"), &Recipient{Address: "d@example.test", State: Delivered}),
		msg(&Recipient{Address: "e@example.org", State: Deferred, Error: &diag.Error{Op: "no_transport", Doing: "deliver to the remote recipient", Path: "e@example.org", Reason: "no outbound transport is configured"}}),
	}}
	s := Summarize(l)
	if s.Messages != 3 || s.Recipients != 5 || s.ByState[Deferred] != 4 || s.ByState[Delivered] != 1 {
		t.Fatalf("counts %+v", s)
	}
	if len(s.Reasons) != 2 {
		t.Fatalf("reasons %+v", s.Reasons)
	}
	g := s.Reasons[0]
	if g.Count != 3 || g.Reason != "cannot create a file in /var/mail/{domain}/{local}/Maildir/tmp: permission denied" ||
		g.Hint != "chown vmail:vmail /var/mail/{domain}/{local}/Maildir/tmp, or run: ebb doctor" || g.Class != "eacces" {
		t.Fatalf("first group %+v", g)
	}
	if s.Reasons[1].Count != 1 || s.Reasons[1].Reason != "cannot deliver to the remote recipient {address}: no outbound transport is configured" {
		t.Fatalf("second group %+v", s.Reasons[1])
	}
}
