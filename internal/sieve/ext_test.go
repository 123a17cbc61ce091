package sieve

import (
	"context"
	"errors"
	"io/fs"
	"testing"
	"time"
)

func TestImap4flags(t *testing.T) {
	runCases(t, []caseT{
		{name: "addflag feeds implicit keep", script: `require "imap4flags"; addflag "\\Seen";`, want: "implicit keep [\\Seen]"},
		{name: "setflag replaces", script: `require "imap4flags"; addflag "a"; setflag "b";`, want: "implicit keep [b]"},
		{name: "space separated list and duplicates", script: `require "imap4flags"; addflag ["a b", "A"];`, want: "implicit keep [a b]"},
		{name: "invalid flags are ignored", script: `require "imap4flags"; addflag ["\\Recent", "\\Bogus", "a\\b", "$Junk", "\\Draft"];`, want: "implicit keep [$Junk \\Draft]"},
		{name: "removeflag", script: `require "imap4flags"; addflag ["\\Seen", "\\Flagged"]; removeflag "\\seen";`, want: "implicit keep [\\Flagged]"},
		{name: "fileinto takes current flags", script: `require ["imap4flags","fileinto"]; addflag "\\Flagged"; fileinto "F";`, want: "fileinto F [\\Flagged]"},
		{name: ":flags overrides", script: `require ["imap4flags","fileinto"]; addflag "x"; fileinto :flags "y" "F";`, want: "fileinto F [y]"},
		{name: "keep :flags", script: `require "imap4flags"; keep :flags ["\\Seen"];`, want: "keep [\\Seen]"},
		{name: "hasflag", script: `require "imap4flags"; addflag "\\Seen \\Flagged"; if hasflag "\\flagged" { discard; }`, want: "discard [\\Seen \\Flagged]"[:7]},
		{name: "hasflag key list splits", script: `require "imap4flags"; addflag "a"; if hasflag :is "b a" { discard; }`, want: "discard"},
		{name: "flags in a variable", script: `require ["imap4flags","variables","fileinto"]; addflag "v" "x"; addflag "v" "y"; if hasflag "v" "y" { fileinto :flags "${v}" "F"; }`, want: "fileinto F [x y]"},
		{name: "hasflag count", script: `require ["imap4flags","relational","comparator-i;ascii-numeric"]; addflag ["a","b"]; if hasflag :count "eq" :comparator "i;ascii-numeric" "2" { discard; }`, want: "discard"},
		// RFC 5232 §6 example (abridged): flags accumulate, then file.
		{name: "rfc 5232 example", script: `require ["imap4flags","fileinto"];
if header :contains "from" "alice" { addflag "\\Flagged"; }
if header :contains "subject" "invoice" { addflag "$Invoice"; fileinto "Invoices"; }`, want: "fileinto Invoices [\\Flagged $Invoice]"},
	})
}

func TestRelational(t *testing.T) {
	msg := "From: a@example.com\r\nTo: b@example.org, c@example.org\r\nCc: d@example.org\r\nX-Priority: 3\r\nSubject: z\r\n\r\n"
	runCases(t, []caseT{
		// RFC 5231 §7 examples.
		{name: "value gt numeric", msg: msg, script: `require ["relational","comparator-i;ascii-numeric"];
if header :value "lt" :comparator "i;ascii-numeric" "x-priority" "4" { discard; }`, want: "discard"},
		{name: "count addresses", msg: msg, script: `require ["relational","comparator-i;ascii-numeric"];
if address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] ["3"] { discard; }`, want: "discard"},
		{name: "count header fields", msg: msg, script: `require ["relational","comparator-i;ascii-numeric"];
if header :count "eq" :comparator "i;ascii-numeric" "to" "1" { discard; }`, want: "discard"},
		{name: "value casemap ordering", msg: msg, script: `require "relational"; if header :value "gt" "subject" "Y" { discard; }`, want: "discard"},
		{name: "numeric non-digit is infinity", msg: "X-A: abc\r\n\r\n", script: `require ["relational","comparator-i;ascii-numeric"];
if header :value "gt" :comparator "i;ascii-numeric" "x-a" "99999" { discard; }`, want: "discard"},
		{name: "ne", msg: msg, script: `require "relational"; if header :value "ne" "subject" "z" { discard; }`, want: "implicit keep"},
	})
}

func TestSubaddress(t *testing.T) {
	runCases(t, []caseT{
		// RFC 5233 §6 examples.
		{name: "detail to folder", script: `require ["subaddress","fileinto","variables","envelope"];
if envelope :detail :matches "to" "*" { fileinto "${1}"; }`, want: "fileinto lists"},
		{name: "user", script: `require ["subaddress","envelope"]; if envelope :user "to" "bob" { discard; }`, want: "discard"},
		{name: "address user", script: `require "subaddress"; if address :user "to" "bob" { discard; }`, want: "discard"},
		{name: "no separator: detail does not match", env: Envelope{From: "a@b.c", To: "bob@example.org"},
			script: `require ["subaddress","envelope"]; if envelope :detail :matches "to" "*" { discard; }`, want: "implicit keep"},
		{name: "empty detail", env: Envelope{From: "a@b.c", To: "bob+@example.org"},
			script: `require ["subaddress","envelope"]; if envelope :detail :is "to" "" { discard; }`, want: "discard"},
	})
}

func TestRegex(t *testing.T) {
	runCases(t, []caseT{
		{name: "regex match", script: `require "regex"; if header :regex "subject" "^hello.*[0-9]+$" { discard; }`, want: "discard"},
		{name: "regex casemap is case-insensitive", script: `require "regex"; if header :regex "subject" "INVOICE" { discard; }`, want: "discard"},
		{name: "regex octet is case-sensitive", script: `require "regex"; if header :regex :comparator "i;octet" "subject" "INVOICE" { discard; }`, want: "implicit keep"},
		{name: "regex captures", script: `require ["regex","variables","fileinto"]; if header :regex "subject" "invoice ([0-9]+)" { fileinto "inv-${1}"; }`, want: "fileinto inv-42"},
		{name: "POSIX class", script: `require "regex"; if header :regex "subject" "[[:digit:]]{2}" { discard; }`, want: "discard"},
		{name: "regex from variable", script: `require ["regex","variables"]; set "r" "in.oice"; if header :regex "subject" "${r}" { discard; }`, want: "discard"},
	})
	_, err := Compile("t", []byte(`require "regex"; if header :regex "subject" "(a)\\1" { keep; }`), Options{})
	if err == nil {
		t.Error("back-references are not supported by RE2 and must be a compile error")
	}
	_, err = Compile("t", []byte(`require "regex"; if header :regex "subject" "aaaaaaaaaa" { keep; }`), Options{Limits: Limits{MaxRegexLen: 5}})
	if err == nil {
		t.Error("a regex over MaxRegexLen must be a compile error")
	}
}

func TestCopy(t *testing.T) {
	runCases(t, []caseT{
		// RFC 3894 §3 example.
		{name: "redirect copy keeps implicit keep", script: `require "copy"; redirect :copy "x@example.net";`, want: "redirect x@example.net :copy; implicit keep"},
		{name: "fileinto copy", script: `require ["copy","fileinto"]; fileinto :copy "A";`, want: "fileinto A :copy; implicit keep"},
		{name: "copy needs require", script: `require "fileinto"; fileinto "A";`, want: "fileinto A"},
	})
}

func TestRejectAndEreject(t *testing.T) {
	runCases(t, []caseT{
		{name: "ereject", script: `require "ereject"; ereject "no";`, want: "ereject no"},
		{name: "two rejects", script: `require "reject"; reject "a"; reject "b";`, want: "error: test: line 1, column 31: runtime error: duplicate reject/ereject action not allowed"},
		{name: "reject then vacation", script: `require ["reject","vacation"]; reject "a"; vacation "b";`, want: "error: test: line 1, column 44: runtime error: vacation action conflicts with other action: the reject action (RFC 5429 §2.3)"},
		{name: "reject with discard", script: `require "reject"; discard; reject "a";`, want: "discard; reject a"},
	})
}

func TestBody(t *testing.T) {
	mp := "From: a@example.com\r\nTo: b@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=XX\r\n\r\n" +
		"This is the preamble.\r\n--XX\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Caf=C3=A9 meeting\r\n--XX\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>world</b></p>\r\n" +
		"--XX\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nU0VDUkVU\r\n--XX--\r\nepilogue\r\n"
	embedded := "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nouter\r\n" +
		"--B\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@example.com\r\nSubject: inner\r\n\r\nInner body text.\r\n--B--\r\n"
	runCases(t, []caseT{
		{name: "text decodes quoted-printable", msg: mp, script: `require "body"; if body :contains "Café" { discard; }`, want: "discard"},
		{name: "text strips html tags", msg: mp, script: `require "body"; if body :text :contains "Hello world" { discard; }`, want: "discard"},
		{name: "raw is undecoded", msg: mp, script: `require "body"; if body :raw :contains "Caf=C3=A9" { discard; }`, want: "discard"},
		{name: "raw sees base64 text only encoded", msg: mp, script: `require "body"; if body :raw :contains "SECRET" { discard; }`, want: "implicit keep"},
		{name: "content application decoded", msg: mp, script: `require "body"; if body :content "application/pdf" :contains "SECRET" { discard; }`, want: "discard"},
		{name: "content text keeps html", msg: mp, script: `require "body"; if body :content "text/html" :contains "<b>" { discard; }`, want: "discard"},
		{name: "content multipart sees prologue", msg: mp, script: `require "body"; if body :content "multipart" :contains "preamble" { discard; }`, want: "discard"},
		{name: "content multipart sees epilogue", msg: mp, script: `require "body"; if body :content "multipart" :contains "epilogue" { discard; }`, want: "discard"},
		// RFC 5173 §7 example.
		{name: "rfc 5173 example", script: `require ["body", "fileinto"];
if body :text :contains "Body text" { fileinto "text"; }`, want: "fileinto text"},
		{name: "embedded message body is text", msg: embedded, script: `require "body"; if body :text :contains "Inner body" { discard; }`, want: "discard"},
		{name: "message/rfc822 matches the embedded header", msg: embedded, script: `require "body"; if body :content "message/rfc822" :contains "Subject: inner" { discard; }`, want: "discard"},
		{name: "message/rfc822 does not match the embedded body", msg: embedded, script: `require "body"; if body :content "message/rfc822" :contains "Inner body" { discard; }`, want: "implicit keep"},
		{name: "body leaves match variables alone", script: `require ["body","variables","fileinto"]; if header :matches "subject" "*" {} if body :matches "*" { fileinto "${1}"; }`, want: "fileinto Hello invoice 42"},
		{name: "plain message is text", script: `require "body"; if body :matches "Body text here.?*" { discard; }`, want: "discard"},
	})
}

func TestVacation(t *testing.T) {
	env := Envelope{From: "alice@example.com", To: "bob@example.org"}
	runCases(t, []caseT{
		{name: "defaults", env: env, script: `require "vacation"; vacation "Away.";`,
			want: `vacation to=alice@example.com subject="" seconds=604800 reason="Away."; implicit keep`},
		{name: "days and subject", env: env, script: `require "vacation"; vacation :days 2 :subject "Out" "Away.";`,
			want: `vacation to=alice@example.com subject="Out" seconds=172800 reason="Away."; implicit keep`},
		{name: "days below minimum", env: env, script: `require "vacation"; vacation :days 0 "Away.";`,
			want: `vacation to=alice@example.com subject="" seconds=86400 reason="Away."; implicit keep`},
		{name: "seconds", env: env, script: `require "vacation-seconds"; vacation :seconds 90000 "Away.";`,
			want: `vacation to=alice@example.com subject="" seconds=90000 reason="Away."; implicit keep`},
		{name: "not addressed to user", env: Envelope{From: "alice@example.com", To: "zed@example.org"}, script: `require "vacation"; vacation "Away.";`,
			want: `vacation to=alice@example.com subject="" seconds=604800 reason="Away." skip=not addressed to user; implicit keep`},
		{name: ":addresses make it addressed", env: Envelope{From: "alice@example.com", To: "zed@example.org"}, script: `require "vacation"; vacation :addresses "dave@example.org" "Away.";`,
			want: `vacation to=alice@example.com subject="" seconds=604800 reason="Away."; implicit keep`},
		{name: "null sender", env: Envelope{From: "", To: "bob@example.org"}, script: `require "vacation"; vacation "Away.";`,
			want: `vacation to= subject="" seconds=604800 reason="Away." skip=null sender; implicit keep`},
		{name: "list mail", env: env, msg: "From: a@example.com\r\nTo: bob@example.org\r\nList-Id: <x.example.com>\r\n\r\n",
			script: `require "vacation"; vacation "Away.";`,
			want:   `vacation to=alice@example.com subject="" seconds=604800 reason="Away." skip=mailing list; implicit keep`},
		{name: "auto-submitted", env: env, msg: "From: a@example.com\r\nTo: bob@example.org\r\nAuto-Submitted: auto-replied\r\n\r\n",
			script: `require "vacation"; vacation "Away.";`,
			want:   `vacation to=alice@example.com subject="" seconds=604800 reason="Away." skip=auto-submitted; implicit keep`},
		{name: "duplicate vacation", env: env, script: `require "vacation"; vacation "a"; vacation "b";`,
			want: "error: test: line 1, column 35: runtime error: duplicate vacation action not allowed"},
	})
}

type answered map[string]bool

func (a answered) Answered(ctx context.Context, handle, sender string, period time.Duration) (bool, error) {
	return a[handle+"|"+sender], nil
}

func TestVacationStoreAndHandle(t *testing.T) {
	s := compileT(t, `require "vacation"; vacation :subject "S" :from "me@example.org" "R";`)
	rt := Runtime{Vacation: answered{"RSme@example.org<NO-MIME>|alice@example.com": true}}
	res, err := s.Run(context.Background(), msgOf(t, testMsg), Envelope{From: "alice@example.com", To: "bob+lists@example.org"}, rt)
	if err != nil {
		t.Fatal(err)
	}
	v := res.Actions[0].(Vacation)
	if v.Handle != "RSme@example.org<NO-MIME>" || v.Skip != "already answered" {
		t.Errorf("handle %q skip %q", v.Handle, v.Skip)
	}
}

// includeFiles is an in-memory include loader.
type includeFiles map[string]string

func (f includeFiles) LoadInclude(loc IncludeLocation, name string) ([]byte, error) {
	s, ok := f[string(loc)+"/"+name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return []byte(s), nil
}

func TestInclude(t *testing.T) {
	files := includeFiles{
		"personal/work":    `require "fileinto"; fileinto "Work";`,
		"global/work":      `require "fileinto"; fileinto "GlobalWork";`,
		"personal/ret":     `require "include"; return; discard;`,
		"personal/stopper": `require "fileinto"; fileinto "Stopped"; stop;`,
		"personal/setter":  `require ["include","variables"]; global "box"; set "box" "FromInclude";`,
		"personal/local":   `require "variables"; set "box" "Inner";`,
		"personal/count":   `require ["include","variables"]; global "n"; set "n" "${n}x";`,
		"personal/loop":    `require "include"; include "loop";`,
		"personal/bad":     `frob;`,
	}
	cases := []caseT{
		{name: "personal", script: `require "include"; include "work";`, want: "fileinto Work"},
		{name: "global", script: `require "include"; include :global "work";`, want: "fileinto GlobalWork"},
		{name: "return goes back to includer", script: `require ["include","fileinto"]; include "ret"; fileinto "After";`, want: "fileinto After"},
		{name: "stop ends everything", script: `require ["include","fileinto"]; include "stopper"; fileinto "After";`, want: "fileinto Stopped"},
		{name: "global variables shared", script: `require ["include","variables","fileinto"]; global "box"; include "setter"; fileinto "${box}";`, want: "fileinto FromInclude"},
		{name: "global namespace", script: `require ["include","variables","fileinto"]; include "setter"; fileinto "${global.box}";`, want: "fileinto FromInclude"},
		{name: "locals not shared", script: `require ["include","variables","fileinto"]; set "box" "Outer"; include "local"; fileinto "${box}";`, want: "fileinto Outer"},
		{name: "once", script: `require ["include","variables","fileinto"]; global "n"; include :once "count"; include :once "count"; fileinto "n${n}";`, want: "fileinto nx"},
		{name: "twice", script: `require ["include","variables","fileinto"]; global "n"; include "count"; include "count"; fileinto "n${n}";`, want: "fileinto nxx"},
		{name: "optional missing", script: `require ["include","fileinto"]; include :optional "absent"; fileinto "After";`, want: "fileinto After"},
		{name: "return at top level stops", script: `require "include"; return; discard;`, want: "implicit keep"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Compile("main", []byte(c.script), Options{Include: files})
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Run(context.Background(), msgOf(t, testMsg), Envelope{}, Runtime{})
			if err != nil {
				t.Fatal(err)
			}
			if got := formatResult(res); got != c.want {
				t.Errorf("got %s want %s", got, c.want)
			}
		})
	}
	for name, want := range map[string]string{
		`require "include"; include "loop";`:   "circular include of personal script 'loop'",
		`require "include"; include "absent";`: "failed to include personal script 'absent'",
		`require "include"; include "bad";`:    "bad: line 1, column 1: error: unknown command 'frob'",
		`require "include"; include "../etc";`: "include: invalid script name '../etc'",
	} {
		_, err := Compile("main", []byte(name), Options{Include: files})
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", name, err, want)
		}
	}
}

func contains(s, sub string) bool { return len(sub) == 0 || len(s) >= len(sub) && indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestDateAndIndex(t *testing.T) {
	msg := "From: a@example.com\r\nTo: b@example.org\r\n" +
		"Received: from x by y; Tue, 1 Mar 2016 04:30:15 +0000\r\n" +
		"Received: from w by x; Mon, 29 Feb 2016 23:00:00 -0500\r\n" +
		"Date: Tue, 1 Mar 2016 05:30:15 +0100\r\nSubject: s\r\n\r\n"
	now := time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)
	rt := Runtime{Now: now, Location: time.UTC}
	runCases(t, []caseT{
		{name: "date year", msg: msg, rt: rt, script: `require "date"; if date :is "date" "year" "2016" { discard; }`, want: "discard"},
		{name: "date to local zone", msg: msg, rt: rt, script: `require ["date","variables","fileinto"]; if date :matches "date" "time" "*" { fileinto "${1}"; }`, want: "fileinto 04:30:15"},
		{name: "originalzone", msg: msg, rt: rt, script: `require ["date","variables","fileinto"]; if date :originalzone :matches "date" "zone" "*" { fileinto "${1}"; }`, want: "fileinto +0100"},
		{name: "zone", msg: msg, rt: rt, script: `require ["date","variables","fileinto"]; if date :zone "-0500" :matches "date" "iso8601" "*" { fileinto "${1}"; }`, want: "fileinto 2016-02-29T23:30:15-05:00"},
		{name: "julian", msg: msg, rt: rt, script: `require ["date","variables","fileinto"]; if date :matches "date" "julian" "*" { fileinto "${1}"; }`, want: "fileinto 57448"},
		{name: "weekday", msg: msg, rt: rt, script: `require "date"; if date :is "date" "weekday" "2" { discard; }`, want: "discard"},
		{name: "std11", msg: msg, rt: rt, script: `require ["date","variables","fileinto"]; if date :matches "date" "std11" "*" { fileinto "${1}"; }`, want: "fileinto Tue, 01 Mar 2016 04:30:15 +0000"},
		{name: "received uses text after semicolon", msg: msg, rt: rt, script: `require ["date","index"]; if date :index 2 "received" "date" "2016-03-01" { discard; }`, want: "discard"},
		{name: "index last", msg: msg, rt: rt, script: `require ["date","index","relational"]; if date :index 1 :last :zone "-0500" "received" "day" "29" { discard; }`, want: "discard"},
		{name: "header index", msg: msg, rt: rt, script: `require "index"; if header :index 2 :contains "received" "from w" { discard; }`, want: "discard"},
		{name: "header index out of range", msg: msg, rt: rt, script: `require "index"; if header :index 3 :contains "received" "from" { discard; }`, want: "implicit keep"},
		{name: "missing header", msg: msg, rt: rt, script: `require "date"; if date :matches "x-date" "year" "*" { discard; }`, want: "implicit keep"},
		{name: "currentdate", rt: rt, script: `require ["date","variables","fileinto"]; if currentdate :matches "date" "*" { fileinto "${1}"; }`, want: "fileinto 2026-11-28"},
		// RFC 5260 §4.3 example: office hours.
		{name: "rfc 5260 office hours", rt: rt, script: `require ["date", "relational"];
if allof(currentdate :value "ge" "hour" "09", currentdate :value "lt" "hour" "17") { discard; }`, want: "discard"},
		{name: "unknown part is false", rt: rt, script: `require "date"; if currentdate :matches "fortnight" "*" { discard; }`, want: "implicit keep"},
	})
}

func TestMailboxExists(t *testing.T) {
	rt := Runtime{MailboxExists: func(n string) bool { return n == "INBOX" || n == "Lists" }}
	runCases(t, []caseT{
		{name: "exists", rt: rt, script: `require ["mailbox","fileinto"]; if mailboxexists "Lists" { fileinto "Lists"; }`, want: "fileinto Lists"},
		{name: "all must exist", rt: rt, script: `require ["mailbox"]; if mailboxexists ["Lists","Nope"] { discard; }`, want: "implicit keep"},
		{name: "create", script: `require ["mailbox","fileinto"]; fileinto :create "New";`, want: "fileinto New :create"},
		{name: "default only INBOX", script: `require ["mailbox"]; if mailboxexists "INBOX" { discard; }`, want: "discard"},
	})
}

type seenIDs map[string]bool

func (s seenIDs) Seen(ctx context.Context, handle, id string, period time.Duration) (bool, error) {
	return s[handle+"|"+id], nil
}

func TestDuplicate(t *testing.T) {
	rt := Runtime{Duplicate: seenIDs{"|<1@example.com>": true, "h|x": true}}
	runCases(t, []caseT{
		{name: "seen message-id", rt: rt, script: `require "duplicate"; if duplicate { discard; }`, want: "discard"},
		{name: "other handle", rt: rt, script: `require "duplicate"; if duplicate :handle "other" { discard; }`, want: "implicit keep"},
		{name: "uniqueid", rt: rt, script: `require "duplicate"; if duplicate :handle "h" :uniqueid "x" { discard; }`, want: "discard"},
		{name: "no tracker is never duplicate", script: `require "duplicate"; if duplicate { discard; }`, want: "implicit keep"},
		{name: "header missing", rt: rt, script: `require "duplicate"; if duplicate :header "x-none" { discard; }`, want: "implicit keep"},
	})
	s := compileT(t, `require "duplicate"; if duplicate :seconds 60 { keep; }`)
	res, err := s.Run(context.Background(), msgOf(t, testMsg), Envelope{}, Runtime{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.DuplicateMarks) != 1 || res.DuplicateMarks[0].ID != "<1@example.com>" || res.DuplicateMarks[0].Period != time.Minute {
		t.Errorf("marks %+v", res.DuplicateMarks)
	}
}

func TestEditheader(t *testing.T) {
	runCases(t, []caseT{
		{name: "addheader first is visible", script: `require "editheader"; addheader "X-A" "1"; if header :is "x-a" "1" { discard; }`, want: "addheader X-A: 1; discard"},
		{name: "deleteheader", script: `require "editheader"; deleteheader "subject"; if not exists "subject" { discard; }`, want: "deleteheader subject [1]; discard"},
		{name: "deleteheader value", script: `require "editheader"; deleteheader :contains "to" "nobody"; if exists "to" { discard; }`, want: "discard"},
		{name: "deleteheader index last", msg: "X-A: 1\r\nX-A: 2\r\nX-A: 3\r\n\r\n", script: `require ["editheader","variables"]; deleteheader :index 1 :last "x-a"; if header :is "x-a" "3" { discard; }`, want: "deleteheader x-a [3]; implicit keep"},
		{name: "received is protected", msg: "Received: x\r\n\r\n", script: `require "editheader"; deleteheader "received"; if exists "received" { discard; }`, want: "discard"},
		{name: "subject rewrite", script: `require ["editheader","variables"]; if header :matches "subject" "*" { deleteheader "subject"; addheader "Subject" "[x] ${1}"; }
if header :is "subject" "[x] Hello invoice 42" { discard; }`, want: "deleteheader subject [1]; addheader Subject: [x] Hello invoice 42; discard"},
	})
	s := compileT(t, `require "editheader"; addheader :last "X-Z" "é";`)
	res, err := s.Run(context.Background(), msgOf(t, testMsg), Envelope{}, Runtime{})
	if err != nil {
		t.Fatal(err)
	}
	last := res.EditedHeader[len(res.EditedHeader)-1]
	if last.Name != "X-Z" || last.Value != " =?utf-8?q?=C3=A9?=" {
		t.Errorf("edited header ends with %+v", last)
	}
	if len(msgOf(t, testMsg).Header()) != len(res.EditedHeader)-1 {
		t.Error("edited header should have one more field")
	}
}

func TestSpamVirusEnvironment(t *testing.T) {
	rt := Runtime{SpamScore: 7, VirusScore: 4, SpamPercent: 75, Environment: map[string]string{"host": "mx.example.com"}}
	runCases(t, []caseT{
		{name: "spamtest ge", rt: rt, script: `require ["spamtest","relational","comparator-i;ascii-numeric"];
if spamtest :value "ge" :comparator "i;ascii-numeric" "5" { discard; }`, want: "discard"},
		{name: "spamtest untested is 0", script: `require ["spamtest"]; if spamtest :is "0" { discard; }`, want: "discard"},
		{name: "spamtestplus percent", rt: rt, script: `require ["spamtestplus","relational","comparator-i;ascii-numeric"];
if spamtest :percent :value "gt" :comparator "i;ascii-numeric" "50" { discard; }`, want: "discard"},
		{name: "virustest", rt: rt, script: `require ["virustest","relational","comparator-i;ascii-numeric"];
if virustest :value "ge" :comparator "i;ascii-numeric" "4" { discard; }`, want: "discard"},
		{name: "environment host", rt: rt, script: `require "environment"; if environment "host" "mx.example.com" { discard; }`, want: "discard"},
		{name: "environment location", script: `require "environment"; if environment "location" "MS" { discard; }`, want: "discard"},
		{name: "environment unknown item", script: `require "environment"; if environment :contains "nope" "" { discard; }`, want: "implicit keep"},
	})
}

func TestIhave(t *testing.T) {
	runCases(t, []caseT{
		{name: "ihave known", script: `require "ihave"; if ihave "fileinto" { fileinto "X"; }`, want: "fileinto X"},
		{name: "ihave unknown skips block", script: `require "ihave"; if ihave "x-unknown" { frobnicate; } else { discard; }`, want: "discard"},
		{name: "ihave test elsewhere", script: `require "ihave"; if anyof(ihave "body", false) { discard; }`, want: "discard"},
		{name: "error command", script: `require "ihave"; error "boom";`, want: "error: test: line 1, column 18: runtime error: boom"},
	})
	s, err := Compile("t", []byte(`require "ihave"; if ihave "editheader" { addheader "a" "b"; } else { discard; }`), Options{Extensions: PigeonholeDefaultExtensions})
	if err != nil {
		t.Fatal(err)
	}
	res, _ := s.Run(context.Background(), msgOf(t, testMsg), Envelope{}, Runtime{})
	if formatResult(res) != "discard" {
		t.Errorf("got %s", formatResult(res))
	}
}

func TestRuntimeErrorKeepsImplicitKeep(t *testing.T) {
	s := compileT(t, `require "ihave"; discard; error "x";`)
	res, err := s.Run(context.Background(), msgOf(t, testMsg), Envelope{}, Runtime{})
	var re *RuntimeError
	if !errors.As(err, &re) || !res.ImplicitKeep || len(res.Actions) != 0 {
		t.Fatalf("err %v res %+v", err, res)
	}
}
