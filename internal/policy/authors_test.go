package policy

import (
	"bufio"
	"context"
	"strings"
	"testing"
)

// Who a message says wrote it, for a logged-in demo@example.test: every
// From: and Sender: address must be one demo may send as, and a From:
// that readers may take differently is refused.
func TestMayAuthor(t *testing.T) {
	tests := []struct {
		name   string
		rule   SenderRule
		header string
		hidden []string
		want   string // "" accepted, else in the refusal
	}{
		{"own address", SenderOwn, "From: Demo <demo@example.test>\r\n", nil, ""},
		{"case", SenderOwn, "From: DEMO@Example.TEST\r\n", nil, ""},
		{"a trailing dot no reader agrees on", SenderOwn, "From: demo@example.test.\r\n", nil, "cannot be read"},
		{"an alias of the login", SenderOwn, "From: info@example.test\r\nSender: demo@example.test\r\n", nil, ""},
		{"a domain alias", SenderOwn, "From: demo@alias.test\r\n", nil, ""},
		{"no From: claims nobody", SenderOwn, "Subject: x\r\n", nil, ""},
		{"folded, comments", SenderOwn, "From: (me)\r\n  \"Demo\" <demo(x)@ example.test >\r\n", nil, ""},
		{"encoded display name", SenderOwn, "From: =?utf-8?q?Bo=C3=9F?= <demo@example.test>\r\n", nil, ""},
		{"someone else", SenderOwn, "From: The Boss <boss@example.test>\r\n", nil, "From: <boss@example.test> is not an address of demo@example.test"},
		{"someone else as Sender", SenderOwn, "From: demo@example.test\r\nSender: boss@example.test\r\n", nil, "Sender: <boss@example.test>"},
		{"two authors", SenderOwn, "From: demo@example.test, boss@example.test\r\n", nil, "From: <boss@example.test>"},
		{"a group", SenderOwn, "From: team: demo@example.test, boss@example.test;\r\n", nil, "From: <boss@example.test>"},
		{"a group of one's own", SenderOwn, "From: team: demo@example.test;\r\n", nil, "holds a group"},
		{"quoted local part", SenderOwn, "From: \"demo\"@example.test\r\n", nil, ""},
		{"quoted local part that is no envelope address", SenderOwn, "From: \"demo boss\"@example.test\r\n", nil, "From: <\"demo boss\"@example.test>"},
		{"percent hack", SenderOwn, "From: boss%example.test@example.test\r\n", nil, "is not an address of"},
		{"syntax error", SenderOwn, "From: boss@example.test <demo@example.test>\r\n", nil, "The From: field cannot be read"},
		{"two From: fields", SenderOwn, "From: demo@example.test\r\nFrom: demo@example.test\r\n", nil, "2 From: fields"},
		{"two From: fields, one not the login", SenderOwn, "From: demo@example.test\r\nfrom : boss@example.test\r\n", nil, "From: <boss@example.test>"},
		{"a From: below a text line", SenderOwn, "From: demo@example.test\r\n", []string{"From: boss@example.test"}, "below a line that ends the header"},
		{"a bare CR hides a From:", SenderOwn, "Subject: x\rFrom: boss@example.test\r\nFrom: demo@example.test\r\n", nil, "bare CR"},
		{"an empty From:", SenderOwn, "From: \r\n", nil, "cannot be read"},
		{"Sender: unreadable", SenderOwn, "From: demo@example.test\r\nSender: <boss@example.test\r\n", nil, "The Sender: field cannot be read"},
		{"exact: an alias is not the login", SenderExact, "From: info@example.test\r\n", nil, `submission.sender_policy = "exact"`},
		{"domain: any address of the domain", SenderDomain, "From: boss@example.test\r\n", nil, ""},
		{"domain: not another", SenderDomain, "From: ceo@bank.example\r\n", nil, "From: <ceo@bank.example>"},
		{"any: no check", SenderAny, "From: ceo@bank.example\r\nFrom: x\r\n", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Senders{Rule: tc.rule, Directory: dir}
			msg := tc.header + "\r\nbody\r\n"
			r, err := s.MayAuthor(context.Background(), "demo@example.test", bufio.NewReader(strings.NewReader(msg)), tc.hidden)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == "" && r != nil:
				t.Errorf("refused: %v", r)
			case tc.want != "" && r == nil:
				t.Errorf("accepted, want a refusal with %q", tc.want)
			case r != nil:
				if r.Code != 550 || r.Enhanced != [3]int{5, 7, 1} || !strings.Contains(r.Message, tc.want) ||
					!strings.Contains(r.Message, "(submission.sender_policy = ") || strings.ContainsAny(r.Message, "\r\n") {
					t.Errorf("refusal %v, want 550 5.7.1 with %q and the setting", r, tc.want)
				}
			}
		})
	}
}

// A domain in its UTF-8 and its punycode spelling is one domain, for the
// login and for what the message says.
func TestMayAuthorIDN(t *testing.T) {
	for _, tc := range []struct {
		rule   SenderRule
		header string
		ok     bool
	}{
		{SenderExact, "From: idn@exämple.test\r\nSender: idn@xn--exmple-cua.test\r\n", true},
		{SenderDomain, "From: other@xn--exmple-cua.test\r\n", true},
		{SenderDomain, "From: other@example.test\r\n", false},
	} {
		s := &Senders{Rule: tc.rule}
		r, err := s.MayAuthor(context.Background(), "idn@exämple.test", bufio.NewReader(strings.NewReader(tc.header+"\r\n")), nil)
		if err != nil || (r == nil) != tc.ok {
			t.Errorf("%s %q: %v %v, want ok=%v", tc.rule, tc.header, r, err, tc.ok)
		}
	}
}
