package envaddr

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in     string
		local  string
		domain string
		refuse string // part of the refusal, "" = accepted
	}{
		{"alice@example.test", "alice", "example.test", ""},
		{"Alice@EXAMPLE.Test.", "Alice", "example.test", ""},
		{"a.b+tag@example.test", "a.b+tag", "example.test", ""},
		{"o'neil@example.test", "o'neil", "example.test", ""},
		{"@relay.test:alice@example.test", "alice", "example.test", ""},
		{"user@[192.0.2.1]", "user", "[192.0.2.1]", ""},
		{"jürgen@bücher.example", "jürgen", "bücher.example", ""},
		{"alice@example.test..", "", "", "empty label"},
		{"john smith@example.test", "", "", "need quotes"},
		{"john\tsmith@example.test", "", "", "control character"},
		{"a<b@example.test", "", "", "not allowed in the local part"},
		{"a\rb@example.test", "", "", "control character"},
		{"alice@exam\x00ple.test", "", "", "control character"},
		{"alice@example.test\x01", "", "", "control character"},
		{"\x1b[31malice@example.test", "", "", "control character"},
		{"a..b@example.test", "", "", "two dots"},
		{".a@example.test", "", "", "dot at the start"},
		{"a\"b@example.test", "", "", "need quotes"},
		{"a\\b@example.test", "", "", "need quotes"},
		{"a@b@example.test", "", "", "more than one @"},
		{"a%b@example.test", "", "", "routing"},
		{"alice", "", "", "no domain"},
		{"", "", "", "empty address"},
		{"alice@", "", "", "empty domain"},
		{"alice@exa mple.test", "", "", "not allowed in a domain"},
		{"\xff@example.test", "", "", "UTF-8"},
		{"alice@\u00a0.test", "", "", "not allowed in a domain"},
		{"SRS0=HHHH=TT=a-long-domain.example=" + strings.Repeat("l", 40) + "@forwarder.example", "SRS0=HHHH=TT=a-long-domain.example=" + strings.Repeat("l", 40), "forwarder.example", ""},
		{strings.Repeat("a", 300) + "@example.test", "", "", "longer than 256"},
	}
	for _, c := range cases {
		a, err := Parse(c.in)
		if c.refuse == "" {
			if err != nil || a.Local != c.local || a.Domain != c.domain {
				t.Errorf("Parse(%q) = %+v, %v; want %s@%s", c.in, a, err, c.local, c.domain)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != 553 || e.Enhanced != [3]int{5, 1, 3} || !strings.Contains(e.Message, c.refuse) {
			t.Errorf("Parse(%q) = %+v, %v; want 553 5.1.3 with %q", c.in, a, err, c.refuse)
		}
	}
	if a, err := ParseReversePath(""); err != nil || a != (Address{}) {
		t.Errorf("the null sender: %+v %v", a, err)
	}
}

// FuzzParse: whatever Parse accepts can be written into a header line and
// a DSN as it is: valid UTF-8, no control character, no space, no angle
// bracket, exactly one "@", and parsing it again gives the same address.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"alice@example.test", "A@B.", "@r:x@y", "a b@c", "a\x00@b", "x@[1.2.3.4]", "ü@ü.de", "a@b..", `"q"@x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if Writable(s) == nil && (!utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool {
			return unicode.IsControl(r) || unicode.IsSpace(r) || r == '<' || r == '>'
		}) >= 0) {
			t.Fatalf("Writable(%q) accepted what cannot go into a header as it is", s)
		}
		a, err := Parse(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code < 500 || strings.ContainsAny(e.Message, "\r\n") {
				t.Fatalf("refusal of %q is not a one-line 5xx: %v", s, err)
			}
			return
		}
		out := a.String()
		for _, r := range out {
			if unicode.IsControl(r) || unicode.IsSpace(r) || r == '<' || r == '>' || r == '"' || r == '\\' || r == '\uFFFD' {
				t.Fatalf("Parse(%q) accepted %q with %q", s, out, r)
			}
		}
		if strings.Count(out, "@") != 1 || len(out) > MaxPath {
			t.Fatalf("Parse(%q) accepted %q", s, out)
		}
		b, err := Parse(out)
		if err != nil || b != a {
			t.Fatalf("Parse(%q) = %q, but that parses as %+v, %v", s, out, b, err)
		}
	})
}

// Writable is what a path another MTA hands over (ebb deliver -f) must be
// to go into a header field as it is.
func TestWritable(t *testing.T) {
	for in, refuse := range map[string]string{
		"":                       "",
		"alice@example.test":     "",
		"a%b@example.test":       "", // Parse refuses; written as is, harmless
		"bounce+x=y@ü.example":   "",
		"a\x01b@example.test":    "control character",
		"a\nX-Evil: 1@b":         "control character",
		"a\u0085b@example.test":  "control character",
		"john smith@example.org": "need quotes",
		"a>b@example.org":        "need quotes",
		"a\u2028b@example.org":   "need quotes",
		"\xff@example.org":       "UTF-8",
	} {
		err := Writable(in)
		if refuse == "" {
			if err != nil {
				t.Errorf("Writable(%q) = %v", in, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(e.Reason, refuse) || strings.Contains(e.Reason, in) {
			t.Errorf("Writable(%q) = %v; want a reason with %q (and without the address)", in, err, refuse)
		}
	}
}

func TestSplitCutsAtTheLastAt(t *testing.T) {
	for _, c := range []struct {
		in, local, domain string
		ok                bool
	}{
		{"alice@Example.ORG", "alice", "Example.ORG", true},
		{"SRS0=h=tt=a.example=b@fwd.example", "SRS0=h=tt=a.example=b", "fwd.example", true},
		{`"odd@local"@example.org`, `"odd@local"`, "example.org", true},
		{"@example.org", "", "example.org", true},
		{"alice@", "alice@", "", false},
		{"alice", "alice", "", false},
		{"", "", "", false},
	} {
		l, d, ok := Split(c.in)
		if l != c.local || d != c.domain || ok != c.ok {
			t.Errorf("Split(%q) = %q, %q, %v; want %q, %q, %v", c.in, l, d, ok, c.local, c.domain, c.ok)
		}
	}
}

// A report destination: mailto: in any case, percent-decoded, one
// mailbox that Parse accepts.
func TestParseMailto(t *testing.T) {
	for _, tc := range []struct {
		uri, want string
	}{
		{"mailto:dmarc@example.org", "dmarc@example.org"},
		{"MAILTO:Reports@Example.ORG", "Reports@example.org"},
		{"mailto:tls%40example.net", "tls@example.net"},
		{"mailto:a@example.net?subject=report", "a@example.net"},
		{"mailto:not an address", ""},
		{"mailto:nope", ""},
		{"mailto:", ""},
		{"mailto:a@x.test,b@x.test", ""},
		{"mailto:a%ZZ@x.test", ""},
		{"mailto:\"a b\"@x.test", ""},
		{"mailto:a%0d%0aBcc:@x.test", ""},
		{"https://r.example/", ""},
		{"mailto:user%example.org@x.test", ""},
	} {
		a, err := ParseMailto(tc.uri)
		if got := a.String(); (err == nil) != (tc.want != "") || err == nil && got != tc.want {
			t.Errorf("ParseMailto(%q) = %q, %v; want %q", tc.uri, got, err, tc.want)
		}
	}
}

// FuzzParseMailto: a mailto: URI gives one address that Parse accepts as
// it is, or a one-line refusal.
func FuzzParseMailto(f *testing.F) {
	for _, s := range []string{"mailto:a@example.net", "MAILTO:tls%40x.test?subject=r", "mailto:a%0d%0a@x", "mailto:a,b@x", "mailto:%ZZ", "mailto:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseMailto(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || strings.ContainsAny(e.Message, "\r\n") {
				t.Fatalf("refusal of %q: %v", s, err)
			}
			return
		}
		if b, err := Parse(a.String()); err != nil || b != a {
			t.Fatalf("ParseMailto(%q) = %q, which Parse reads as %+v, %v", s, a, b, err)
		}
	})
}
