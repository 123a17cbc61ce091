package deliver

import (
	"bufio"
	"strings"
	"testing"
)

func TestFirstLine(t *testing.T) {
	cases := []struct {
		in                            string
		header, crlf, mboxFrom, empty bool
	}{
		{"", true, false, false, true},
		{"Subject: x\n", true, false, false, false},
		{"Subject: x\r\n", true, true, false, false},
		{"\n\nbody", true, false, false, false},
		{"From bob@example.net Thu Jan 1\n", false, false, true, false},
		{"just text\n", false, false, false, false},
		{"X-Long: " + strings.Repeat("a", 5000), true, false, false, false},
		{strings.Repeat("a", 5000), false, false, false, false},
		{"Bad Name: x\n", false, false, false, false},
		{":novalue\n", false, false, false, false},
	}
	for _, c := range cases {
		h, crlf, from, empty := firstLine(bufio.NewReaderSize(strings.NewReader(c.in), 4096))
		if h != c.header || crlf != c.crlf || from != c.mboxFrom || empty != c.empty {
			t.Errorf("firstLine(%.30q) = %v %v %v %v, want %v %v %v %v", c.in, h, crlf, from, empty, c.header, c.crlf, c.mboxFrom, c.empty)
		}
	}
}

func TestScanHeader(t *testing.T) {
	in := "Delivered-To: a@b\r\nSubject: folded\r\n  over two lines\r\nX-Empty:\r\n\r\nDelivered-To: not@header\r\n"
	fs := scanHeader(strings.NewReader(in))
	want := []field{{"Delivered-To", "a@b"}, {"Subject", "folded over two lines"}, {"X-Empty", ""}}
	if len(fs) != len(want) {
		t.Fatalf("fields %q", fs)
	}
	for i := range want {
		if fs[i] != want[i] {
			t.Errorf("field %d %q, want %q", i, fs[i], want[i])
		}
	}
	h := toHeader(fs)
	if h.Get("Subject") != "folded over two lines" {
		t.Errorf("toHeader Subject %q", h.Get("Subject"))
	}
	var keys []string
	for f := h.Fields(); f.Next(); {
		keys = append(keys, f.Key())
	}
	if strings.Join(keys, ",") != "Delivered-To,Subject,X-Empty" {
		t.Errorf("order %v", keys)
	}

	// Memory stays bounded for a huge field.
	fs = scanHeader(strings.NewReader("X-Huge: " + strings.Repeat("h", 4<<20) + "\nSubject: after\n\n"))
	if len(fs) != 2 || len(fs[0].value) > maxFieldBytes || fs[1].value != "after" {
		t.Errorf("huge field: %d fields, first %d bytes", len(fs), len(fs[0].value))
	}
}

// FuzzScanHeader: no input panics or grows a field past its bound, and
// firstLine agrees with the scanner about whether there is a header.
func FuzzScanHeader(f *testing.F) {
	for _, s := range []string{"Subject: x\n\nbody", "Delivered-To: a@b\r\n\r\n", "From x\n", " cont\n", "A:\n b\n\tc\n", "\x00:\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fs := scanHeader(strings.NewReader(s))
		for _, fl := range fs {
			if len(fl.value) > 2*maxFieldBytes || fl.key == "" || strings.ContainsAny(fl.key, ": \t\r\n") {
				t.Fatalf("bad field %q", fl)
			}
		}
		h, _, _, _ := firstLine(bufio.NewReaderSize(strings.NewReader(s), 4096))
		if len(fs) > 0 && !h {
			t.Fatalf("scanner found fields in %q but firstLine says no header", s)
		}
	})
}
