package mailhdr

import (
	"strings"
	"testing"
)

// Authors finds bank.example however the header is written: the From:
// forms that let spoofed mail in when one reader stopped or decoded
// differently (issue 22), and more of their class.
func TestAuthorsFindsEveryDomain(t *testing.T) {
	for _, c := range []struct {
		name, header string
		domains      string // comma-separated
		unreadable   bool
		incomplete   bool
	}{
		{"plain", "From: ceo@bank.example\r\n", "bank.example", false, false},
		{"windows-1252 display name", "From: =?windows-1252?q?Bank_Gr=FC=DFe?= <ceo@bank.example>\r\n", "bank.example", false, false},
		{"ISO-2022-JP display name", "From: =?ISO-2022-JP?B?GyRCJTUlcyVXJWsbKEI=?= <ceo@bank.example>\r\n", "bank.example", false, false},
		{"unknown charset", "From: =?x-klingon?q?Qapla?= <ceo@bank.example>\r\n", "bank.example", false, false},
		{"CFWS in the brackets", "From: <ceo@bank.example >\r\n", "bank.example", false, false},
		{"comments everywhere", "From: (x) ceo (y) @ (z) bank (w) . example (v)\r\n", "bank.example", false, false},
		{"folded", "From: The CEO\r\n <ceo@bank.example>\r\n", "bank.example", false, false},
		{"obs route", "From: <@relay.example:ceo@bank.example>\r\n", "bank.example", false, false},
		{"obs-optional WSP before colon", "From : ceo@bank.example\r\n", "bank.example", false, false},
		{"upper case name, final dot, upper case domain", "FROM: ceo@BANK.EXAMPLE.\r\n", "bank.example", true, false},
		{"IDN domain", "From: ceo@bänk.example\r\n", "xn--bnk-qla.example", false, false},
		{"IDN with an invisible character", "From: ceo@bank\u200b.example\r\n", "bank.example", false, false},
		{"two domains in one From:", "From: a@friend.example, ceo@bank.example\r\n", "friend.example,bank.example", false, false},
		{"two From: fields", "From: a@friend.example\r\nFrom: ceo@bank.example\r\n", "friend.example,bank.example", true, false},
		{"group", "From: Bank: ceo@bank.example;\r\n", "bank.example", true, false},
		{"address in a phrase", "From: ceo@bank.example <x@evil.example>\r\n", "bank.example,evil.example", true, false},
		{"encoded word for the address", "From: =?utf-8?q?ceo=40bank.example?=\r\n", "bank.example", true, false},
		{"encoded word in quotes", "From: \"=?utf-8?q?ceo=40bank.example?=\" <x@evil.example>\r\n", "evil.example", false, false},
		{"unterminated quote", "From: \"CEO <ceo@bank.example>\r\n", "bank.example", true, false},
		{"missing bracket", "From: CEO <ceo@bank.example\r\n", "bank.example", true, false},
		{"line that is no field before From:", "X-A: 1\r\nno field here\r\nFrom: ceo@bank.example\r\n", "bank.example", true, true},
		{"line that is no field between From: fields", "From: a@friend.example\r\nno field here\r\nFrom: ceo@bank.example\r\n", "friend.example,bank.example", true, false},
		{"From: with a space in the name below", "From: a@friend.example\r\nFrom x: y\r\n From: ceo@bank.example\r\n", "friend.example,bank.example", true, false},
		{"From with NUL in its name", "Subject: x\r\nFrom\x00: ceo@bank.example\r\nFrom: a@friend.example\r\n", "bank.example,friend.example", true, true},
		{"From with NUL in its name after From:", "From: a@friend.example\r\nFrom\x00: ceo@bank.example\r\n", "friend.example,bank.example", true, false},
		{"From after a bare CR", "Subject: x\rFrom: ceo@bank.example\r\nFrom: a@friend.example\r\n", "bank.example,friend.example", true, false},
		{"obs: white space only continuation", "From: \r\n \r\n ceo@bank.example\r\n", "bank.example", false, false},
		{"no From:", "Subject: x\r\n", "", false, true},
		{"empty From:", "From: \r\n", "", true, true},
		{"From: without a domain", "From: root\r\n", "", true, true},
		{"domain literal", "From: ceo@[192.0.2.1]\r\n", "", true, true},
		{"more domains than judged", "From: " + manyDomains(MaxAuthorDomains+1) + "\r\n", manyDomainList(MaxAuthorDomains), false, true},
		{"From: longer than MaxField", "From: " + strings.Repeat(" ", MaxField) + "ceo@bank.example\r\n", "", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := ReadAuthorsFrom(strings.NewReader(c.header + "\r\nbody\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(a.Domains, ","); got != c.domains {
				t.Errorf("domains %q, want %q (%+v)", got, c.domains, a)
			}
			if (a.Unreadable != "") != c.unreadable || (a.Incomplete != "") != c.incomplete {
				t.Errorf("unreadable %q, incomplete %q", a.Unreadable, a.Incomplete)
			}
		})
	}
}

func manyDomains(n int) string {
	var s []string
	for i := range n {
		s = append(s, "a@d"+string(rune('a'+i))+".example")
	}
	return strings.Join(s, ", ")
}

func manyDomainList(n int) string {
	var s []string
	for i := range n {
		s = append(s, "d"+string(rune('a'+i))+".example")
	}
	return strings.Join(s, ",")
}
