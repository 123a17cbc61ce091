package sieve

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestFormatActionsIsTheStableLineFormat(t *testing.T) {
	res := &Result{Actions: []Action{
		Keep{Flags: []string{`\Seen`, "$Label"}},
		&Keep{Copy: true},
		FileInto{Mailbox: "Work/Reports", Flags: []string{"$b", "$a"}, Copy: true, Create: true},
		Redirect{Address: "bob@example.org", Copy: true},
		&Reject{Reason: "go \"away\"\n", Extended: true},
		Reject{Reason: "no"},
		Discard{},
		Vacation{To: "a@example.org", Subject: "Away", From: "me@example.org", Seconds: 86400, Handle: "h",
			Mime: true, Addresses: []string{"x@example.org", "y@example.org"}, Skip: "null sender", Reason: "later"},
		AddHeader{Name: "X-A", Value: "1", Last: true},
		DeleteHeader{Name: "X-B", Indexes: []int{1, 3}},
		DeleteHeader{Name: "X-C"},
	}, ImplicitKeep: true, ImplicitKeepFlags: []string{"$z"}}
	want := []string{
		`keep flags "$Label" "\\Seen"`,
		`keep :copy`,
		`fileinto "Work/Reports" flags "$a" "$b" :copy :create`,
		`redirect "bob@example.org" :copy`,
		`ereject "go \"away\"\n"`,
		`reject "no"`,
		`discard`,
		`vacation to="a@example.org" subject="Away" from="me@example.org" seconds=86400 handle="h" mime=yes addresses="x@example.org, y@example.org" skip="null sender" reason="later"`,
		`addheader "X-A" "1" :last`,
		`deleteheader "X-B" index 1 3`,
		`deleteheader "X-C"`,
		`implicit keep flags "$z"`,
	}
	if got := FormatActions(res); !reflect.DeepEqual(got, want) {
		t.Errorf("FormatActions:\n got %q\nwant %q", got, want)
	}
	if got := FormatActions(&Result{}); got != nil {
		t.Errorf("no actions, no implicit keep: %q", got)
	}
}

func TestCompileErrorLinesNameFileLineColumn(t *testing.T) {
	_, err := Compile("test.sieve", []byte("require \"fileinto\";\nfrobnicate;\nfileinto;\n"), Options{Extensions: []string{"fileinto"}})
	lines := CompileErrorLines("/srv/test.sieve", err)
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "test.sieve:2:1: error: unknown command 'frobnicate'") {
		t.Errorf("compile error lines: %q", lines)
	}
	lines = CompileErrorLines("/srv/x.sieve", &CompileError{Msg: "cannot read"})
	if !reflect.DeepEqual(lines, []string{"/srv/x.sieve: error: cannot read"}) {
		t.Errorf("an error without a position: %q", lines)
	}
	lines = CompileErrorLines("/srv/x.sieve", errors.New("open /srv/x.sieve: permission denied"))
	if !reflect.DeepEqual(lines, []string{"/srv/x.sieve: error: open /srv/x.sieve: permission denied"}) {
		t.Errorf("another error: %q", lines)
	}
}

func TestHeaderAddressReadsAsTheAddressTest(t *testing.T) {
	msg := "Return-Path: <>\r\nFrom: \"Alice (home)\" <alice@example.org>, bob@example.org\r\nDelivered-To: carol@example.net\r\nTo: undisclosed-recipients:;\r\n\r\nbody\r\n"
	m, err := NewMessage(strings.NewReader(msg), int64(len(msg)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"Return-Path", "From"}, ""}, // <> is the null sender
		{[]string{"From"}, "alice@example.org"},
		{[]string{"X-None", "Delivered-To", "To"}, "carol@example.net"},
		{[]string{"To"}, "undisclosed-recipients:;"},
		{[]string{"X-None"}, ""},
	} {
		if got := HeaderAddress(m, tc.names...); got != tc.want {
			t.Errorf("HeaderAddress(%q) = %q, want %q", tc.names, got, tc.want)
		}
	}
}
