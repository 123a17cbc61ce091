package sieve

import "testing"

// RFC 5229 examples and rules.
func TestVariables(t *testing.T) {
	listMsg := "From: a@example.com\r\nList-ID: <acme-users@example.org>\r\n" +
		"Subject: [acme-users] [fwd] version 1.0 is out\r\nTo: b@example.org\r\n\r\nx\r\n"
	runCases(t, []caseT{
		{name: "set and expand", script: `require ["variables","fileinto"]; set "f" "Work"; fileinto "${f}";`, want: "fileinto Work"},
		{name: "names are case-insensitive", script: `require ["variables","fileinto"]; set "F" "Work"; fileinto "${f}";`, want: "fileinto Work"},
		{name: "unknown variable is empty", script: `require ["variables","fileinto"]; fileinto "a${nope}b";`, want: "fileinto ab"},
		{name: "invalid reference stays literal", script: `require ["variables","fileinto"]; fileinto "${a-b}${";`, want: "fileinto ${a-b}${"},
		{name: "no expansion without require", script: `require "fileinto"; fileinto "${x}";`, want: "fileinto ${x}"},
		// RFC 5229 §3.2 examples.
		{name: "rfc 5229 list-id example", msg: listMsg, script: `require ["variables","fileinto"];
if header :matches "List-ID" "*<*@*" { fileinto "INBOX.lists.${2}"; stop; }`, want: "fileinto INBOX.lists.acme-users"},
		{name: "rfc 5229 subject example", msg: listMsg, script: `require ["variables","fileinto"];
if header :matches "Subject" "[*] *" { fileinto "${1}/${2}"; }`, want: "fileinto acme-users/[fwd] version 1.0 is out"},
		{name: "match variable 0 is the whole value", msg: listMsg, script: `require ["variables","fileinto"];
if header :matches "Subject" "*version*" { fileinto "${0}"; }`, want: "fileinto [acme-users] [fwd] version 1.0 is out"},
		{name: "question mark captures one char", script: `require ["variables","fileinto"];
if header :matches "Subject" "Hello ?nvoice *" { fileinto "${1}-${2}"; }`, want: "fileinto i-42"},
		{name: "failed match keeps old values", script: `require ["variables","fileinto"];
if header :matches "Subject" "*" {} if header :matches "Subject" "nomatch*" {} fileinto "${1}";`, want: "fileinto Hello invoice 42"},
		{name: "variables in matches keys are wildcards", script: `require ["variables"]; set "p" "*voice*";
if header :matches "Subject" "${p}" { discard; }`, want: "discard"},
		// §4.1 modifiers, precedence: ":lower :upperfirst" gives "Hello".
		{name: "modifiers lower upperfirst", script: `require ["variables","fileinto"]; set :lower :upperfirst "x" "hELLO"; fileinto "${x}";`, want: "fileinto Hello"},
		{name: "modifier upper", script: `require ["variables","fileinto"]; set :upper "x" "abc"; fileinto "${x}";`, want: "fileinto ABC"},
		{name: "modifier lowerfirst", script: `require ["variables","fileinto"]; set :lowerfirst "x" "ABC"; fileinto "${x}";`, want: "fileinto aBC"},
		{name: "modifier length", script: `require ["variables","fileinto"]; set :length "x" "héllo"; fileinto "${x}";`, want: "fileinto 5"},
		{name: "case modifiers are ASCII-only", script: `require ["variables","fileinto"]; set :upper :lowerfirst "x" "élan"; fileinto "${x}";`, want: "fileinto éLAN"},
		{name: "modifier quotewildcard", script: `require ["variables","fileinto"]; set :quotewildcard "x" "a*b?c\\"; fileinto "${x}";`, want: `fileinto a\*b\?c\\`},
		{name: "modifier quoteregex", script: `require ["variables","fileinto","regex"]; set :quoteregex "x" "a.b"; fileinto "${x}";`, want: `fileinto a\.b`},
		// §5 string test.
		{name: "string test", script: `require "variables"; set "a" "x"; if string :is "${a}" "x" { discard; }`, want: "discard"},
		{name: "string count skips empty", script: `require ["variables","relational","comparator-i;ascii-numeric"];
if string :count "eq" :comparator "i;ascii-numeric" ["a", "", "b"] "2" { discard; }`, want: "discard"},
		{name: "string empty is", script: `require "variables"; if string :is "${nope}" "" { discard; }`, want: "discard"},
	})
}

func TestVariableSizeLimitTruncates(t *testing.T) {
	s, err := Compile("t", []byte(`require ["variables","fileinto"]; set "x" "abcdef"; set :length "n" "${x}"; fileinto "${n}";`),
		Options{Limits: Limits{MaxVariableSize: 3}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(t.Context(), msgOf(t, testMsg), Envelope{}, Runtime{})
	if err != nil {
		t.Fatal(err)
	}
	if got := formatResult(res); got != "fileinto 3" {
		t.Errorf("got %s", got)
	}
}

func TestEncodedCharacter(t *testing.T) {
	runCases(t, []caseT{
		// RFC 5228 §2.4.2.4 examples.
		{name: "hex", script: `require ["encoded-character","fileinto"]; fileinto "${hex:40}";`, want: "fileinto @"},
		{name: "hex pairs with blanks", script: `require ["encoded-character","fileinto"]; fileinto "${hex: 40 41 }";`, want: "fileinto @A"},
		{name: "unicode", script: `require ["encoded-character","fileinto"]; fileinto "${unicode:40}";`, want: "fileinto @"},
		{name: "unicode multibyte", script: `require ["encoded-character","fileinto"]; fileinto "${UNICODE:263a}";`, want: "fileinto ☺"},
		{name: "invalid stays literal", script: `require ["encoded-character","fileinto"]; fileinto "${hex:xx}";`, want: "fileinto ${hex:xx}"},
		{name: "not decoded without require", script: `require "fileinto"; fileinto "${hex:40}";`, want: "fileinto ${hex:40}"},
		{name: "decoded before variables (as Pigeonhole)", script: `require ["encoded-character","variables","fileinto"]; set "a" "b"; fileinto "${hex:24}{a}";`, want: "fileinto b"},
	})
}
