package main

// Edge cases where implementations tend to differ: address syntax, sizes
// with LF files, character counting, odd lexical forms, conflicts.
func init() {
	addrMsg := `
From: "Smith, John" <john@example.org> (the sender)
To: undisclosed-recipients:;
Cc: Team: ann@example.com, "Ben B." <ben@example.com>;, carl@example.net
Reply-To: <@route.example:rr@example.org>
Sender: "a b"@example.org
Resent-From: nodomain
Errors-To: <>
Subject: addresses
Message-ID: <addr@example.org>

Body.
`
	utf8Msg := `
From: Zoë <zoe@example.org>
To: bob@example.com
Subject: Grüße aus Köln — café
X-Word: ÄBC
Message-ID: <utf8@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Schöne Grüße.
`
	zoneMsg := `
Date: Sun, 01 Jan 2017 00:30:00 GMT
Resent-Date: Sat, 31 Dec 16 19:30:00 EST
X-Date-Negative: Sun, 01 Jan 2017 00:30:00 -0000
From: tz@example.org
To: bob@example.com
Subject: zones
Message-ID: <tz@example.org>

Tick.
`
	rfc822Msg := `
From: fwd@example.org
To: bob@example.com
Subject: Fwd: original
Message-ID: <fwd@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain

See the attached message.
--b1
Content-Type: message/rfc822

From: inner@example.net
Subject: inner subject

The inner body mentions zebras.
--b1--
`
	add(
		Case{Name: "edge-size-counts-crlf", Desc: "size is the octets as stored: 719 for this LF file, not the 743 it would have with CRLF", Script: "if size :over 730 { discard; }\n"},
		Case{Name: "edge-size-under-lf", Desc: "size :under 735 is true: LF line ends are not re-counted as CRLF", Script: "if size :under 735 { discard; }\n"},
		Case{Name: "edge-size-over-zero", Desc: "size :over 0", Script: "if size :over 0 { discard; }\n"},

		Case{Name: "edge-address-display-comma", Desc: "a quoted comma in From's display name", Msg: addrMsg, Script: "if address :is \"from\" \"john@example.org\" { discard; }\n"},
		Case{Name: "edge-address-comment", Desc: "a trailing comment is not part of the address", Msg: addrMsg, Script: "if address :localpart :is \"from\" \"john\" { discard; }\n"},
		Case{Name: "edge-address-empty-group", Desc: "address :count over an empty group (Pigeonhole does not count it as 0)", Msg: addrMsg, Script: "require [\"relational\", \"comparator-i;ascii-numeric\"];\nif address :count \"eq\" :comparator \"i;ascii-numeric\" \"to\" \"0\" { discard; }\n"},
		Case{Name: "edge-address-group-members", Desc: "addresses inside a group count", Msg: addrMsg, Script: "require [\"relational\", \"comparator-i;ascii-numeric\", \"variables\", \"fileinto\"];\nif address :count \"eq\" :comparator \"i;ascii-numeric\" \"cc\" \"3\" { fileinto \"three\"; }\nif address :is \"cc\" \"ben@example.com\" { fileinto \"ben\"; }\n"},
		Case{Name: "edge-address-route", Desc: "a source route is ignored", Msg: addrMsg, Script: "if address :is \"reply-to\" \"rr@example.org\" { discard; }\n"},
		Case{Name: "edge-address-quoted-local", Desc: "a quoted local part", Msg: addrMsg, Script: "require [\"variables\", \"fileinto\"];\nif address :localpart :matches \"sender\" \"*\" { fileinto \"lp-${1}\"; }\n"},
		Case{Name: "edge-address-no-domain", Desc: "an address without a domain", Msg: addrMsg, Script: "require [\"variables\", \"fileinto\"];\nif address :all :matches \"resent-from\" \"*\" { fileinto \"all-${1}\"; }\nif address :domain :matches \"resent-from\" \"*\" { fileinto \"dom-${1}\"; }\n"},
		Case{Name: "edge-address-null", Desc: "the null address <> does not equal \"\" for the address test, but the field exists", Msg: addrMsg, Script: "require \"fileinto\";\nif address :is \"errors-to\" \"\" { fileinto \"empty\"; }\nif exists \"errors-to\" { fileinto \"exists\"; }\n"},

		Case{Name: "edge-matches-question-utf8", Desc: "with i;ascii-casemap Pigeonhole's ? matches one octet, so a two-octet Ä needs ??", Msg: utf8Msg, Script: "require \"fileinto\";\nif address :localpart :is \"from\" \"zoe\" { }\nif header :matches \"x-word\" \"?BC\" { fileinto \"one-char\"; }\nif header :matches \"x-word\" \"??BC\" { fileinto \"two-bytes\"; }\n"},
		Case{Name: "edge-casemap-utf8-contains", Desc: "i;ascii-casemap leaves non-ASCII case alone", Msg: utf8Msg, Script: "require \"fileinto\";\nif header :contains \"subject\" \"GRÜSSE\" { fileinto \"folded\"; }\nif header :contains \"subject\" \"KÖLN\" { fileinto \"oe\"; }\nif header :contains \"subject\" \"köln\" { fileinto \"exact\"; }\n"},
		Case{Name: "edge-variables-length-utf8", Desc: ":length counts characters", Msg: utf8Msg, Script: "require [\"variables\", \"fileinto\"];\nif header :matches \"x-word\" \"*\" { set :length \"n\" \"${1}\"; fileinto \"len-${n}\"; }\n"},
		Case{Name: "edge-variables-upper-utf8", Desc: ":upper on non-ASCII text", Msg: utf8Msg, Script: "require [\"variables\", \"fileinto\"];\nset :upper \"x\" \"grüße\";\nfileinto \"${x}\";\n"},
		Case{Name: "edge-variables-index-beyond", Desc: "a match variable beyond the wildcards is empty", Script: "require [\"variables\", \"fileinto\"];\nif header :matches \"subject\" \"Your *\" { fileinto \"[${1}][${2}][${9}]\"; }\n"},
		Case{Name: "edge-variables-dollar-literal", Desc: "a lone $ and an unclosed ${ stay literal", Script: "require [\"variables\", \"fileinto\"];\nset \"a\" \"x\";\nfileinto \"$a-${a-${a}\";\n"},
		Case{Name: "edge-variables-leading-zero-index", Desc: "${01} is match variable 1", Script: "require [\"variables\", \"fileinto\"];\nif header :matches \"subject\" \"* *\" { fileinto \"${01}\"; }\n"},
		Case{Name: "edge-variables-regex-zero", Desc: "${0} after :regex is the whole match, not the whole value", Script: "require [\"variables\", \"regex\", \"fileinto\"];\nif header :regex \"subject\" \"inv[a-z]+\" { fileinto \"${0}\"; }\n"},
		Case{Name: "edge-encoded-unicode-invalid", Desc: "an invalid code point in ${unicode:} is an error", Script: "require [\"encoded-character\", \"fileinto\"];\nfileinto \"${unicode:D800}\";\n", Want: "compile"},
		Case{Name: "edge-encoded-hex-empty", Desc: "${hex:} with nothing inside stays literal", Script: "require [\"encoded-character\", \"fileinto\"];\nfileinto \"a${hex:}b\";\n"},

		Case{Name: "edge-date-gmt", Desc: "a GMT zone name", Msg: zoneMsg, Script: "require [\"date\", \"variables\", \"fileinto\"];\nif date :originalzone :matches \"date\" \"zone\" \"*\" { fileinto \"z${1}\"; }\n"},
		Case{Name: "edge-date-obsolete-zone", Desc: "an obsolete zone (EST) and a two-digit year", Msg: zoneMsg, Script: "require [\"date\", \"variables\", \"fileinto\"];\nif date :zone \"+0000\" :matches \"resent-date\" \"iso8601\" \"*\" { fileinto \"${1}\"; }\n"},
		Case{Name: "edge-date-negative-zero", Desc: "-0000 (unknown local zone)", Msg: zoneMsg, Script: "require [\"date\", \"variables\", \"fileinto\"];\nif date :originalzone :matches \"x-date-negative\" \"zone\" \"*\" { fileinto \"z${1}\"; }\n"},
		Case{Name: "edge-date-zone-west", Desc: ":zone -0800 moves the date back a year", Msg: zoneMsg, Script: "require [\"date\", \"variables\", \"fileinto\"];\nif date :zone \"-0800\" :matches \"date\" \"date\" \"*\" { fileinto \"${1}\"; }\n"},

		Case{Name: "edge-body-rfc822-content", Desc: "body :content \"message/rfc822\" does not search the attached message's body", Msg: rfc822Msg, Script: "require [\"body\", \"fileinto\"];\nif body :content \"message/rfc822\" :contains \"zebras\" { fileinto \"inner\"; }\n"},
		Case{Name: "edge-body-text-inner-message", Desc: "body :text also reads the text of an attached message", Msg: rfc822Msg, Script: "require [\"body\", \"fileinto\"];\nif body :text :contains \"zebras\" { fileinto \"deep\"; }\n"},
		Case{Name: "edge-header-inner-not-seen", Desc: "header tests see only the top-level header", Msg: rfc822Msg, Script: "if header :contains \"subject\" \"inner\" { discard; }\n"},

		Case{Name: "edge-uppercase-commands", Desc: "command and tag names are case-insensitive", Script: "IF HEADER :CONTAINS \"subject\" \"invoice\" { DISCARD; }\n"},
		Case{Name: "edge-tag-after-positional", Desc: "a tag after the positional arguments is an error", Script: "if header \"subject\" :is \"x\" { keep; }\n", Want: "compile"},
		Case{Name: "edge-require-twice", Desc: "requiring an extension twice is fine", Script: "require \"fileinto\";\nrequire [\"fileinto\", \"fileinto\"];\nfileinto \"x\";\n"},
		Case{Name: "edge-require-empty-list", Desc: "require with an empty list", Script: "require [];\nkeep;\n", Want: "compile"},
		Case{Name: "edge-comment-in-list", Desc: "comments inside a string list", Script: "if header :contains [\"x-missing\", /* c */ \"subject\" # hash\n] \"invoice\" { discard; }\n"},
		Case{Name: "edge-hash-comment-eof", Desc: "a hash comment at the end without a newline", Script: "discard; # the end"},
		Case{Name: "edge-text-comment-after-colon", Desc: "text: may be followed by a comment", Script: "require \"reject\";\nreject text: # why\nGo.\n.\n;\n"},
		Case{Name: "edge-text-double-dot", Desc: "a line of two dots in text: is one dot", Script: "require \"reject\";\nreject text:\n..\n.\n;\n"},
		Case{Name: "edge-header-name-invalid", Desc: "a header name with a space is only a warning; the test is false", Script: "if header :contains \"x bad\" \"\" { discard; }\n"},
		Case{Name: "edge-exists-empty-name", Desc: "exists with an empty header name is accepted and false", Script: "if exists \"\" { discard; }\n"},
		Case{Name: "edge-redirect-display-name", Desc: "redirect to an address with a display name", Script: "redirect \"Bob <bob@example.net>\";\n"},
		Case{Name: "edge-redirect-copy-and-reject", Desc: "redirect :copy also conflicts with reject", Script: "require [\"copy\", \"reject\"];\nredirect :copy \"a@example.net\";\nreject \"no\";\n", Want: "runtime"},
		Case{Name: "edge-vacation-from-invalid", Desc: "vacation :from with an invalid address is an error", Script: "require \"vacation\";\nvacation :from \"not an address\" \"x\";\n", Want: "compile"},
		Case{Name: "edge-flag-recent", Desc: "\\Recent cannot be set", Script: "require \"imap4flags\";\naddflag [\"\\\\Recent\", \"\\\\Seen\"];\n"},
		Case{Name: "edge-flag-invalid-keyword", Desc: "a keyword with an invalid character is dropped", Script: "require \"imap4flags\";\naddflag [\"bad(flag\", \"$Good\"];\n"},
		Case{Name: "edge-count-casemap", Desc: ":count with the default comparator", Script: "require \"relational\";\nif header :count \"eq\" \"received\" \"2\" { discard; }\n"},
		Case{Name: "edge-not-contains-missing", Desc: "not header :contains on a missing header is true", Script: "if not header :contains \"x-missing\" \"a\" { discard; }\n"},
		Case{Name: "edge-matches-only-stars", Desc: "\"**\" matches anything, even empty", Script: "if header :matches \"x-empty\" \"**\" { discard; }\n"},
		Case{Name: "edge-string-escape-unknown", Desc: "\\q in a string is q", Script: "require \"fileinto\";\nfileinto \"a\\qb\";\n"},
		Case{Name: "edge-number-k-exact", Desc: "1K is 1024", Script: "if size :under 1K { discard; }\n"},
		Case{Name: "edge-fileinto-copy-inbox", Desc: "fileinto :copy INBOX is listed beside the implicit keep", Script: "require [\"fileinto\", \"copy\"];\nfileinto :copy \"INBOX\";\n"},
		Case{Name: "edge-discard-and-fileinto", Desc: "discard does not cancel an earlier fileinto", Script: "require \"fileinto\";\ndiscard;\nfileinto \"after\";\n"},
		Case{Name: "edge-ereject-vacation", Desc: "ereject conflicts with vacation", Script: "require [\"ereject\", \"vacation\"];\nvacation \"v\";\nereject \"no\";\n", Replace: [][2]string{{"ereject", "reject"}}, Want: "runtime"},
	)
}
