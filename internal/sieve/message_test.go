package sieve

import (
	"io"
	"strings"
	"testing"
)

func TestNewMessage(t *testing.T) {
	cases := []struct {
		name, raw string
		fields    []HeaderField
		body      string
	}{
		{"CRLF with folding", "A: 1\r\nB: two\r\n  parts\r\n\r\nbody\r\n",
			[]HeaderField{{"A", " 1"}, {"B", " two\r\n  parts"}}, "body\r\n"},
		{"LF line ends", "A: 1\nB:2\n\nbody\n", []HeaderField{{"A", " 1"}, {"B", "2"}}, "body\n"},
		{"header only", "A: 1\r\n", []HeaderField{{"A", " 1"}}, ""},
		{"no blank line before body", "A: 1\r\nnot a header\r\n", []HeaderField{{"A", " 1"}}, "not a header\r\n"},
		{"mbox From line skipped", "From alice@example.com Mon Nov 23 10:00:00 2026\nA: 1\n\nb\n", []HeaderField{{"A", " 1"}}, "b\n"},
		{"space before colon", "Subject : x\r\n\r\n", []HeaderField{{"Subject", " x"}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := NewMessage(strings.NewReader(c.raw), int64(len(c.raw)))
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Header()) != len(c.fields) {
				t.Fatalf("fields %q", m.Header())
			}
			for i, f := range c.fields {
				if m.Header()[i] != f {
					t.Errorf("field %d: got %q want %q", i, m.Header()[i], f)
				}
			}
			r, _ := m.Body()
			b, _ := io.ReadAll(r)
			if string(b) != c.body {
				t.Errorf("body %q want %q", b, c.body)
			}
			if m.Size() != int64(len(c.raw)) {
				t.Errorf("size %d", m.Size())
			}
		})
	}
}

func TestDecodeHeader(t *testing.T) {
	for in, want := range map[string]string{
		" plain ":                            "plain",
		" =?utf-8?q?Gr=C3=BC=C3=9Fe?= x":     "Grüße x",
		" =?iso-8859-1?q?M=FCnchen?=":        "München",
		" =?utf-8?b?w6k=?= =?utf-8?b?w6k=?=": "éé",
		" folded\r\n  line":                  "folded  line",
		" =?bogus?q?x?=":                     "=?bogus?q?x?=",
	} {
		if got := decodeHeader(in); got != want {
			t.Errorf("decodeHeader(%q) = %q, want %q", in, got, want)
		}
	}
}
