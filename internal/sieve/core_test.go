package sieve

import "testing"

func TestCore(t *testing.T) {
	runCases(t, []caseT{
		{name: "empty script keeps implicitly", script: ``, want: "implicit keep"},
		{name: "keep cancels implicit keep", script: `keep;`, want: "keep"},
		{name: "discard", script: `discard;`, want: "discard"},
		{name: "stop ends the script", script: `stop; discard;`, want: "implicit keep"},
		{name: "redirect", script: `redirect "x@example.net";`, want: "redirect x@example.net"},
		{name: "redirect duplicate collapses", script: `redirect "x@example.net"; redirect "x@EXAMPLE.net";`, want: "redirect x@example.net"},
		{name: "header contains", script: `if header :contains "subject" "INVOICE" { discard; }`, want: "discard"},
		{name: "header is fails", script: `if header :is "subject" "invoice" { discard; }`, want: "implicit keep"},
		{name: "header octet is case sensitive", script: `if header :comparator "i;octet" :contains "subject" "INVOICE" { discard; }`, want: "implicit keep"},
		{name: "matches", script: `if header :matches "subject" "hello*42" { discard; }`, want: "discard"},
		{name: "address domain", script: `if address :domain :is "to" "example.net" { discard; }`, want: "discard"},
		{name: "address localpart", script: `if address :localpart :is "from" "alice" { discard; }`, want: "discard"},
		{name: "address all", script: `if address :all :is "from" "alice@example.com" { discard; }`, want: "discard"},
		{name: "exists", script: `if exists ["subject","cc"] { discard; }`, want: "discard"},
		{name: "exists fails", script: `if exists ["subject","x-nope"] { discard; }`, want: "implicit keep"},
		{name: "size over", script: `if size :over 100 { discard; }`, want: "discard"},
		{name: "size under K", script: `if size :under 1K { discard; }`, want: "discard"},
		{name: "allof anyof not", script: `if allof(true, not false, anyof(false, true)) { discard; }`, want: "discard"},
		{name: "elsif else", script: `if false { discard; } elsif false { keep; } else { redirect "a@b.c"; }`, want: "redirect a@b.c"},
		{name: "fileinto", script: `require "fileinto"; fileinto "Work";`, want: "fileinto Work"},
		{name: "fileinto INBOX merges with keep", script: `require "fileinto"; fileinto "INBOX"; keep;`, want: "keep"},
		{name: "envelope", script: `require "envelope"; if envelope :domain "from" "example.com" { discard; }`, want: "discard"},
		{name: "reject", script: `require "reject"; reject "go away";`, want: "reject go away"},
		{name: "reject after fileinto is an error", script: `require ["reject","fileinto"]; fileinto "x"; reject "no";`,
			want: "error: test: line 1, column 46: runtime error: reject/ereject action conflicts with other action: the fileinto action tries to deliver the message"},
	})
}

func TestPigeonholeCompatibility(t *testing.T) {
	runCases(t, []caseT{
		{name: "invalid header name never exists", script: `if exists "a b" { discard; }`, want: "implicit keep"},
		{name: "string test defaults to i;octet", script: `require "variables"; if string :is "y" "Y" { discard; }`, want: "implicit keep"},
		{name: "string test with casemap", script: `require "variables"; if string :comparator "i;ascii-casemap" :is "y" "Y" { discard; }`, want: "discard"},
		{name: "duplicate redirect is ignored", script: `require "copy"; redirect :copy "a@example.org"; redirect "a@example.org";`, want: "redirect a@example.org :copy; implicit keep"},
		{name: "later store replaces flags", script: `require ["imap4flags","fileinto"]; fileinto :flags "\\seen" "A"; fileinto :flags "\\flagged" "A";`, want: "fileinto A [\\flagged]"},
		{name: "mailbox names are case-sensitive", script: `require "fileinto"; fileinto "A"; fileinto "a"; fileinto "inbox";`, want: "fileinto A; fileinto a; fileinto inbox"},
		{name: "fileinto empty folder is accepted", script: `require "fileinto"; fileinto "";`, want: "fileinto "},
		{name: "reject then discard", script: `require "reject"; reject "x"; discard;`, want: "reject x; discard"},
	})
}

func TestAddressParts(t *testing.T) {
	msg := "From: a@example.com\r\nTo: \"Quoted Local\"@example.org, undisclosed-recipients:;\r\n" +
		"Cc: Group: carol@example.net, dave@example.net;, eve@example.com (Eve)\r\n" +
		"Reply-To: nobody\r\nSender: (comment) <s@example.net>\r\n\r\n"
	runCases(t, []caseT{
		{name: ":all keeps a quoted local part quoted", msg: msg, script: `if address :all :is "to" "\"Quoted Local\"@example.org" { discard; }`, want: "discard"},
		{name: ":localpart is unquoted", msg: msg, script: `if address :localpart :is "to" "Quoted Local" { discard; }`, want: "discard"},
		{name: "group members are addresses", msg: msg, script: `if address :is "cc" "dave@example.net" { discard; }`, want: "discard"},
		{name: "comment after address", msg: msg, script: `if address :is "cc" "eve@example.com" { discard; }`, want: "discard"},
		{name: "comment before address", msg: msg, script: `if address :is "sender" "s@example.net" { discard; }`, want: "discard"},
		{name: "invalid address has :all only", msg: msg, script: `if address :all :is "reply-to" "nobody" { discard; }`, want: "discard"},
		{name: "invalid address has no localpart", msg: msg, script: `if address :localpart :is "reply-to" "nobody" { discard; }`, want: "implicit keep"},
		{name: "empty group has no addresses", msg: msg, script: `require ["relational","comparator-i;ascii-numeric"]; if address :count "eq" :comparator "i;ascii-numeric" "to" "1" { discard; }`, want: "discard"},
		{name: "a value without valid addresses is one raw address", msg: "To: undisclosed-recipients:;\r\n\r\n", script: `require ["relational","comparator-i;ascii-numeric"]; if address :count "eq" :comparator "i;ascii-numeric" "to" "1" { if address :all :is "to" "undisclosed-recipients:;" { discard; } }`, want: "discard"},
		{name: "invalid items among valid ones are dropped", msg: "Bcc: a@b.c, foo, ;\r\n\r\n", script: `require ["relational","comparator-i;ascii-numeric"]; if address :count "eq" :comparator "i;ascii-numeric" "bcc" "1" { discard; }`, want: "discard"},
		{name: "? is one octet (Pigeonhole)", script: `require "variables"; if string :matches "Grüße" "?r??e" { discard; }`, want: "implicit keep"},
		{name: "redirect to quoted local part", script: `redirect "\"quoted local\"@example.org";`, want: "redirect \"quoted local\"@example.org"},
		{name: "duplicate store keeps first :copy", script: `require ["copy","fileinto"]; fileinto :copy "A"; fileinto "A";`, want: "fileinto A :copy; implicit keep"},
	})
}

func TestPigeonholeLeniency(t *testing.T) {
	runCases(t, []caseT{
		{name: "invalid zone is ignored", script: `require "date"; if date :zone "0100" "date" "year" "2026" { discard; }`,
			msg: "Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\n", want: "discard"},
		{name: "obsolete zone names", script: `require ["date","variables","fileinto"]; if date :zone "+0000" :matches "resent-date" "iso8601" "*" { fileinto "${1}"; }`,
			msg: "Resent-Date: Sat, 31 Dec 16 19:30:00 EST\r\n\r\n", want: "fileinto 2017-01-01T00:30:00Z"},
		{name: "fileinto :copy INBOX is keep with copy", script: `require ["fileinto","copy"]; fileinto :copy "INBOX";`, want: "keep; implicit keep"},
		{name: "bad runtime regex does not match", script: `require ["regex","variables"]; set "r" "["; if header :regex "subject" "${r}" { keep; } else { discard; }`, want: "discard"},
		{name: "deleteheader match type without patterns", script: `require "editheader"; deleteheader :is "x-none"; discard;`, want: "discard"},
	})
	for _, src := range []string{
		`require "encoded-character"; if header :is "subject" "${unicode:110000}" { keep; }`,
		`require "encoded-character"; if header :is "subject" "${unicode:D800}" { keep; }`,
	} {
		_, err := Compile("t", []byte(src), Options{})
		if err == nil || !contains(err.Error(), "in encoded character substitution") {
			t.Errorf("%s: %v", src, err)
		}
	}
}
