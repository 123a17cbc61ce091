package sieve

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

const testMsg = "From: Alice <alice@example.com>\r\n" +
	"To: bob+lists@example.org, \"Carol C\" <carol@Example.NET>\r\n" +
	"Cc: dave@example.org\r\n" +
	"Subject: Hello invoice 42\r\n" +
	"Message-ID: <1@example.com>\r\n" +
	"Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n" +
	"X-Spam-Score: 7\r\n" +
	"\r\n" +
	"Body text here.\r\n"

// msgOf builds a Message from literal text (LF line ends are accepted).
func msgOf(t testing.TB, s string) Message {
	t.Helper()
	m, err := NewMessage(strings.NewReader(s), int64(len(s)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func compileT(t testing.TB, src string) *Script {
	t.Helper()
	s, err := Compile("test", []byte(src), Options{})
	if err != nil {
		t.Fatalf("compile: %v\nscript:\n%s", err, src)
	}
	return s
}

// runT compiles and runs src against msg and returns the actions as text.
func runT(t testing.TB, src, msg string, env Envelope, rt Runtime) string {
	t.Helper()
	s := compileT(t, src)
	res, err := s.Run(context.Background(), msgOf(t, msg), env, rt)
	if err != nil {
		return "error: " + err.Error()
	}
	return formatResult(res)
}

// formatResult is a compact, test-only rendering of a Result.
func formatResult(res *Result) string {
	var parts []string
	for _, a := range res.Actions {
		switch x := a.(type) {
		case Keep:
			parts = append(parts, "keep"+flagsText(x.Flags))
		case Discard:
			parts = append(parts, "discard")
		case FileInto:
			s := "fileinto " + x.Mailbox + flagsText(x.Flags)
			if x.Copy {
				s += " :copy"
			}
			if x.Create {
				s += " :create"
			}
			parts = append(parts, s)
		case Redirect:
			s := "redirect " + x.Address
			if x.Copy {
				s += " :copy"
			}
			parts = append(parts, s)
		case Reject:
			if x.Extended {
				parts = append(parts, "ereject "+x.Reason)
			} else {
				parts = append(parts, "reject "+x.Reason)
			}
		case Vacation:
			s := fmt.Sprintf("vacation to=%s subject=%q seconds=%d reason=%q", x.To, x.Subject, x.Seconds, x.Reason)
			if x.From != "" {
				s += " from=" + x.From
			}
			if x.Skip != "" {
				s += " skip=" + x.Skip
			}
			parts = append(parts, s)
		case AddHeader:
			parts = append(parts, fmt.Sprintf("addheader %s: %s", x.Name, x.Value))
		case DeleteHeader:
			parts = append(parts, fmt.Sprintf("deleteheader %s %v", x.Name, x.Indexes))
		}
	}
	if res.ImplicitKeep {
		parts = append(parts, "implicit keep"+flagsText(res.ImplicitKeepFlags))
	}
	return strings.Join(parts, "; ")
}

func flagsText(f []string) string {
	if len(f) == 0 {
		return ""
	}
	return " [" + strings.Join(f, " ") + "]"
}

// caseT is one behaviour: a script, the message and envelope, and the
// expected actions.
type caseT struct {
	name   string
	script string
	msg    string // "" means testMsg
	env    Envelope
	rt     Runtime
	want   string
}

func runCases(t *testing.T, cases []caseT) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := c.msg
			if msg == "" {
				msg = testMsg
			}
			env := c.env
			if env == (Envelope{}) {
				env = Envelope{From: "alice@example.com", To: "bob+lists@example.org"}
			}
			got := runT(t, c.script, msg, env, c.rt)
			if got != c.want {
				t.Errorf("got  %s\nwant %s\nscript:\n%s", got, c.want, c.script)
			}
		})
	}
}
