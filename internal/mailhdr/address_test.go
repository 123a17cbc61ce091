package mailhdr

import (
	"strings"
	"testing"
)

// show renders parsed addresses as "Name <spec> [group]" joined by "|".
func show(list []Address) string {
	var out []string
	for _, a := range list {
		s := a.Name + " <" + a.Spec() + ">"
		if a.Group != "" {
			s += " [" + a.Group + "]"
		}
		out = append(out, s)
	}
	return strings.Join(out, "|")
}

// The address forms of RFC 5322 §3.4 and Appendix A, §4.4's obsolete
// forms, RFC 6532's UTF-8 and RFC 2047's encoded display names.
func TestParseAddressList(t *testing.T) {
	for _, c := range []struct{ in, want, bad string }{
		// RFC 5322 Appendix A.1.1-A.1.3
		{`John Doe <jdoe@machine.example>`, `John Doe <jdoe@machine.example>`, ""},
		{`Mary Smith <mary@example.net>`, `Mary Smith <mary@example.net>`, ""},
		{`"Joe Q. Public" <john.q.public@example.com>`, `Joe Q. Public <john.q.public@example.com>`, ""},
		{`Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>`,
			`Mary Smith <mary@x.test>| <jdoe@example.org>|Who? <one@y.test>`, ""},
		{`<boss@nil.test>, "Giant; \"Big\" Box" <sysservices@example.net>`,
			` <boss@nil.test>|Giant; "Big" Box <sysservices@example.net>`, ""},
		{`A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;`,
			`Ed Jones <c@a.test> [A Group]| <joe@where.test> [A Group]|John <jdoe@one.test> [A Group]`, ""},
		{`Undisclosed recipients:;`, ``, ""},
		// A.5: white space, comments
		{"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", `Pete <pete@silly.test>`, ""},
		{"A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the group)",
			`Chris Jones <c@public.example> [A Group]| <joe@example.org> [A Group]|John <jdoe@one.test> [A Group]`, ""},
		{`(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;`, ``, ""},
		// A.6: obsolete forms
		{`Joe Q. Public <john.q.public@example.com>`, `Joe Q. Public <john.q.public@example.com>`, ""},
		{`Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example`,
			`Mary Smith <mary@example.net>| <jdoe@test.example>`, ""},
		{`<@a.example,@b.example:x@c.example>`, ` <x@c.example>`, ""},
		{`<,@a.example,,@b.example:x@c.example>`, ` <x@c.example>`, ""},
		{`john . doe @ example . org`, ` <john.doe@example.org>`, ""},
		{`john."doe x"@example.org`, ` <"john.doe x"@example.org>`, ""},
		{`, , a@b.example ,`, ` <a@b.example>`, ""},
		{`G:, ,a@b.example,;`, ` <a@b.example> [G]`, ""},
		// CFWS inside the angle brackets (net/mail refuses these)
		{`<ceo@bank.example >`, ` <ceo@bank.example>`, ""},
		{`< ceo@bank.example>`, ` <ceo@bank.example>`, ""},
		{"<ceo@bank.example\r\n (x)>", ` <ceo@bank.example>`, ""},
		// quoted local parts, domain literals
		{`"john doe"@example.org`, ` <"john doe"@example.org>`, ""},
		{`"a\"b"@example.org`, ` <"a\"b"@example.org>`, ""},
		{`x@[192.0.2.1]`, ` <x@[192.0.2.1]>`, ""},
		{`x@[ IPv6:2001:db8::1 ]`, ` <x@[IPv6:2001:db8::1]>`, ""},
		// RFC 6532 UTF-8
		{`Jörg <jörg@bücher.example>`, `Jörg <jörg@bücher.example>`, ""},
		// RFC 2047 display names, any charset
		{`=?windows-1252?q?Bank_Gr=FC=DFe?= <ceo@bank.example>`, `Bank Grüße <ceo@bank.example>`, ""},
		{`=?ISO-2022-JP?B?GyRCJTUlcyVXJWsbKEI=?= <a@b.example>`, `サンプル <a@b.example>`, ""},
		{`=?utf-8?q?a?= =?utf-8?q?b?= c <a@b.example>`, `ab c <a@b.example>`, ""},
		{`=?utf-8*en?q?Hello?= <a@b.example>`, `Hello <a@b.example>`, ""},
		{`=?x-unknown?q?abc?= <a@b.example>`, `=?x-unknown?q?abc?= <a@b.example>`, ""},
		{`=?koi8-r?b?8NLJ18XU?= <a@b.example>`, `Привет <a@b.example>`, ""},
		// not addresses: the rest is still read
		{`root`, ``, `"root": a name without an address`},
		{`ceo@bank.example <x@evil.example>, ok@fine.example`, ` <ok@fine.example>`, `"ceo@bank.example <x@evil.example>": text after the address`},
		{`a@b.example, "unterminated`, ` <a@b.example>`, `""unterminated": a quoted string is not closed`},
		{`<a@b.example`, ``, `"<a@b.example": an address not closed with '>'`},
		{`<>`, ``, `"<>": an empty address <>`},
		{`a..b@example.org`, ``, `"a..b@example.org": a local part with an empty part between dots`},
		{`a@example..org`, ``, `"a@example..org": a domain with an empty label`},
		{`G: a@b.example`, ``, `"G: a@b.example": the group "G" is not closed with ';'`},
		{"a@b\x00.example", ``, `"a@b\x00.example": the character \x00 is not allowed here`},
		{``, ``, ""},
		{` (only a comment) `, ``, ""},
	} {
		list, err := ParseAddressList(c.in)
		bad := ""
		if err != nil {
			bad = err.Error()
		}
		if got := show(list); got != strings.TrimPrefix(c.want, "") || bad != c.bad {
			t.Errorf("%q:\n got %q, %q\nwant %q, %q", c.in, got, bad, c.want, c.bad)
		}
	}
}

func TestDecodeText(t *testing.T) {
	for in, want := range map[string]string{
		"=?utf-8?q?Gr=C3=BC=C3=9Fe?= aus =?iso-8859-1?q?K=F6ln?=": "Grüße aus Köln",
		"=?utf-8?q?a?= \t =?utf-8?q?b?=":                          "ab",
		"=?bogus?q?a?= =?utf-8?q?b?=":                             "=?bogus?q?a?= b",
		"plain text":                                              "plain text",
		"=?windows-1252?b?gA==?=":                                 "€",
	} {
		if got := DecodeText(in); got != want {
			t.Errorf("DecodeText(%q) = %q, want %q", in, got, want)
		}
	}
}
