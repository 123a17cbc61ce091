package sendmail

import (
	"bytes"
	"io"
	"os"
	"os/user"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func readInput(t *testing.T, in string, ignoreDots bool) string {
	t.Helper()
	b, err := io.ReadAll(iotest.OneByteReader(NewInput(strings.NewReader(in), ignoreDots)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestInputLineEndingsAndDot(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		ignoreDots bool
		want       string
	}{
		{"CRLF becomes LF", "a: b\r\n\r\nbody\r\n", true, "a: b\n\nbody\n"},
		{"bare LF kept", "a\nb\n", true, "a\nb\n"},
		{"lone CR inside a line kept", "a\rb\n", true, "a\rb\n"},
		{"lone dot ends input without -i", "x\n.\nafter\n", false, "x\n"},
		{"lone dot with CRLF ends input without -i", "x\r\n.\r\nafter\r\n", false, "x\n"},
		{"dot at EOF ends input without -i", "x\n.", false, "x\n"},
		{"lone dot is data with -i", "x\n.\nafter\n", true, "x\n.\nafter\n"},
		{"dot-stuffed line is not unstuffed", "..x\n", false, "..x\n"},
		{"dot with text is data", ".x\n", false, ".x\n"},
		{"missing final newline added", "x", true, "x\n"},
		{"empty input", "", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := readInput(t, tc.in, tc.ignoreDots); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestInputLongLines(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	// A CR LF that falls on the buffer boundary must still become LF.
	for _, n := range []int{64<<10 - 1, 64 << 10, 64<<10 + 1} {
		in := strings.Repeat("y", n) + "\r\n" + long + "\r\n.\r\n"
		got := readInput(t, in, false)
		want := strings.Repeat("y", n) + "\n" + long + "\n"
		if got != want {
			t.Errorf("line of %d: got %d bytes, want %d (CR left: %v)", n, len(got), len(want), strings.Contains(got, "\r"))
		}
	}
}

func TestParseAddressList(t *testing.T) {
	tests := map[string][]string{
		"alice@example.org":                             {"alice@example.org"},
		"Alice <alice@example.org>, bob@example.org":    {"alice@example.org", "bob@example.org"},
		`"Smith, John" <john@example.org>`:              {"john@example.org"},
		"bob@example.org (Bob, the builder)":            {"bob@example.org"},
		"root":                                          {"root"},
		"root, admin":                                   {"root", "admin"},
		"undisclosed-recipients:;":                      nil,
		"team: a@example.org, b@example.org;, c@x.test": {"a@example.org", "b@example.org", "c@x.test"},
		`"john doe"@example.org`:                        {`"john doe"@example.org`},
		"<broken@example.org":                           {"broken@example.org"},
		", ,alice@example.org,,":                        {"alice@example.org"},
		"Name <a@example.org> trailing":                 {"a@example.org"},
		"=?UTF-8?Q?J=C3=B6rg?= <joerg@example.org>":     {"joerg@example.org"},
	}
	for in, want := range tests {
		if got := ParseAddressList(in); !reflect.DeepEqual(got, want) {
			t.Errorf("ParseAddressList(%q) = %q, want %q", in, got, want)
		}
	}
}

var fixedNow = time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)

var caller = Caller{Login: "alice", Name: "", Domain: "example.test", Hostname: "mx.example.test"}

func prepare(t *testing.T, args []string, msg string, c Caller) (*Message, string) {
	t.Helper()
	o, err := Parse("sendmail", args)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Prepare(o, strings.NewReader(msg), c, fixedNow)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	var b bytes.Buffer
	m.Header.WriteTo(&b)
	io.Copy(&b, m.Body)
	return m, b.String()
}

func TestPrepareMailxWithBcc(t *testing.T) {
	// What bsd-mailx writes (services.md §7): Bcc left in, no Date/Message-ID.
	msg := "From: Sender <sender@example.org>\nTo: alice@example.org, bob@example.org\nSubject: subj\n" +
		"Cc: cc@example.org\nBcc: bcc@example.org\nX-Test: 1\nMIME-Version: 1.0\n\nhello body\n"
	m, out := prepare(t, []string{"-i", "-t", "-f", "sender@example.org"}, msg, caller)
	want := []string{"alice@example.org", "bob@example.org", "cc@example.org", "bcc@example.org"}
	if !reflect.DeepEqual(m.Recipients, want) {
		t.Errorf("recipients %q, want %q", m.Recipients, want)
	}
	if m.Sender != "sender@example.org" {
		t.Errorf("sender %q", m.Sender)
	}
	if strings.Contains(out, "Bcc") {
		t.Errorf("Bcc left in the message:\n%s", out)
	}
	for _, h := range []string{"From: Sender <sender@example.org>\n", "Date: Sat, 28 Nov 2026 14:00:00 +0000\n", "Message-ID: <20261128140000."} {
		if !strings.Contains(out, h) {
			t.Errorf("missing %q in:\n%s", h, out)
		}
	}
	if strings.Count(out, "From:") != 1 {
		t.Errorf("From: added although present:\n%s", out)
	}
	if !strings.HasSuffix(out, "\n\nhello body\n") {
		t.Errorf("body changed:\n%q", out)
	}
}

func TestPrepareCronDebian(t *testing.T) {
	msg := "Subject: Cron <root@host> run-parts /etc/cron.hourly\r\nContent-Type: text/plain\r\n\r\noutput\r\n.\r\nnot part of it? -i says it is\r\n"
	m, out := prepare(t, []string{"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"}, msg, Caller{Login: "root", Domain: "example.test", Hostname: "h"})
	if !reflect.DeepEqual(m.Recipients, []string{"root@example.test"}) {
		t.Errorf("recipients %q", m.Recipients)
	}
	if m.Sender != "root@example.test" || m.BodyType != "8BITMIME" {
		t.Errorf("sender %q body %q", m.Sender, m.BodyType)
	}
	if !strings.Contains(out, "From: CronDaemon <root@example.test>\n") {
		t.Errorf("From not generated from -F:\n%s", out)
	}
	if strings.Contains(out, "\r") {
		t.Errorf("CR left:\n%q", out)
	}
	if !strings.Contains(out, "output\n.\nnot part") {
		t.Errorf("-i: the dot line must be data:\n%q", out)
	}
}

func TestPrepareDotEndsWithoutI(t *testing.T) {
	_, out := prepare(t, []string{"bob@example.org"}, "Subject: x\n\nline\n.\nignored\n", caller)
	if strings.Contains(out, "ignored") {
		t.Errorf("text after the dot line was kept:\n%s", out)
	}
}

func TestPrepareFromFullName(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"login user at the domain", []string{"bob"}, "", "From: alice@example.test\n"},
		{"NAME from the environment", []string{"bob"}, "Alice Liddell", "From: Alice Liddell <alice@example.test>\n"},
		{"-F beats NAME", []string{"-F", "Cron Daemon", "bob"}, "Alice", "From: Cron Daemon <alice@example.test>\n"},
		{"-f chooses the address", []string{"-f", "noreply@example.org", "bob"}, "", "From: noreply@example.org\n"},
		{"specials in the name are quoted", []string{"-F", "Smith, John", "bob"}, "", "From: \"Smith, John\" <alice@example.test>\n"},
		{"null sender uses the login", []string{"-f", "<>", "bob"}, "", "From: alice@example.test\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := caller
			c.Name = tc.env
			_, out := prepare(t, tc.args, "Subject: x\n\nbody\n", c)
			if !strings.Contains(out, tc.want) {
				t.Errorf("want %q in:\n%s", tc.want, out)
			}
		})
	}
}

func TestPrepareHeaderEdgeCases(t *testing.T) {
	tests := []struct {
		name, in, wantPrefix string
	}{
		{"no header at all: body only", "just text\nmore\n", "From: alice@example.test\nDate: "},
		{"mbox From line dropped", "From alice Sat Nov 28 2026\nSubject: s\n\nb\n", "Subject: s\nFrom: "},
		{"folded header kept", "Subject: a\n b\n\nx\n", "Subject: a\n b\nFrom: "},
		{"empty message", "", "From: alice@example.test\nDate: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, out := prepare(t, []string{"-i", "bob@example.org"}, tc.in, caller)
			if !strings.HasPrefix(out, tc.wantPrefix) {
				t.Errorf("got:\n%s\nwant prefix %q", out, tc.wantPrefix)
			}
			if !strings.Contains(out, "\n\n") {
				t.Errorf("no empty line between header and body:\n%q", out)
			}
			if tc.name == "no header at all: body only" && !strings.HasSuffix(out, "\n\njust text\nmore\n") {
				t.Errorf("body lost:\n%q", out)
			}
		})
	}
}

func TestPrepareRecipients(t *testing.T) {
	tests := []struct {
		name string
		args []string
		msg  string
		want []string
	}{
		{"-t adds header recipients to command-line ones (Postfix)", []string{"-t", "extra@example.org"},
			"To: a@example.org\n\n", []string{"extra@example.org", "a@example.org"}},
		{"duplicates removed, case-insensitively", []string{"-t", "A@example.org"},
			"To: a@example.org\nCc: a@EXAMPLE.org\n\n", []string{"A@example.org"}},
		{"Resent- fields win when present", []string{"-t"},
			"To: old@example.org\nResent-To: new@example.org\nResent-Bcc: hidden@example.org\n\n", []string{"new@example.org", "hidden@example.org"}},
		{"without -t the headers are not read", []string{"x@example.org"},
			"To: a@example.org\n\n", []string{"x@example.org"}},
		{"bare names qualified", []string{"root", "postmaster"}, "\n", []string{"root@example.test", "postmaster@example.test"}},
		{"comma list on the command line", []string{"a@example.org, b@example.org"}, "\n", []string{"a@example.org", "b@example.org"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, out := prepare(t, tc.args, tc.msg, caller)
			if !reflect.DeepEqual(m.Recipients, tc.want) {
				t.Errorf("recipients %q, want %q", m.Recipients, tc.want)
			}
			if strings.Contains(out, "Bcc:") {
				t.Errorf("Bcc left:\n%s", out)
			}
		})
	}
}

func TestPrepareRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"no recipients at all", nil, "Subject: x\n\n"},
		{"-t and no recipient headers", []string{"-t"}, "Subject: x\n\n"},
		{"control character in recipient", []string{"a\x01b@example.org"}, "\n"},
		{"a quoted local part with a space (the queue could not bounce to it)", []string{"-f", `"john smith"@example.org`, "x@example.org"}, "\n"},
		{"a recipient that needs quotes", []string{`"a<b"@example.org`}, "\n"},
		{"a NUL in the sender's domain", []string{"-f", "s@exa\x00mple.org", "x@example.org"}, "\n"},
		{"overlong recipient", []string{strings.Repeat("a", 400) + "@example.org"}, "\n"},
		{"header block too large", []string{"x@example.org"}, "X: " + strings.Repeat("a", 100) + "\n" + strings.Repeat("X-Long: "+strings.Repeat("b", 1000)+"\n", 1100)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := Parse("sendmail", tc.args)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Prepare(o, strings.NewReader(tc.msg), caller, fixedNow)
			if err == nil {
				t.Fatal("Prepare accepted it")
			}
			switch err.(type) {
			case *UsageError, *DataError:
			default:
				t.Errorf("error %T %v, want UsageError or DataError", err, err)
			}
		})
	}
}

func FuzzPrepare(f *testing.F) {
	f.Add("To: a@example.org\nBcc: b\n\nbody\n.\n", true)
	f.Add("From x\nSubject: y\n z\n\r\n.\r\n", false)
	f.Fuzz(func(t *testing.T, msg string, dash bool) {
		o := &Options{ExtractRecipients: dash, IgnoreDots: !dash, Recipients: []string{"x@example.org"}}
		m, err := Prepare(o, strings.NewReader(msg), caller, fixedNow)
		if err != nil {
			return
		}
		var b bytes.Buffer
		m.Header.WriteTo(&b)
		io.Copy(&b, m.Body)
		if strings.Contains(b.String(), "\r\n") {
			t.Fatalf("CRLF left in %q", b.String())
		}
		head, _, _ := strings.Cut(b.String(), "\n\n")
		if dash && strings.Contains(strings.ToLower("\n"+head), "\nbcc:") {
			t.Fatalf("Bcc left in %q", b.String())
		}
	})
}

func TestLocalCallerQualifiesWithTheConfiguredNames(t *testing.T) {
	t.Setenv("NAME", "Alice Example")
	c := LocalCaller("mx.example.org", "")
	if c.Hostname != "mx.example.org" || c.Domain != "mx.example.org" || c.Name != "Alice Example" {
		t.Errorf("LocalCaller(host) = %+v", c)
	}
	if u, err := user.Current(); err == nil && c.Login != u.Username {
		t.Errorf("login %q, want %q", c.Login, u.Username)
	}
	c = LocalCaller("mx.example.org", "example.org")
	if c.Domain != "example.org" || c.Hostname != "mx.example.org" {
		t.Errorf("LocalCaller(host, domain) = %+v", c)
	}
	host, _ := os.Hostname()
	if c := LocalCaller("", ""); c.Hostname == "" || (host != "" && c.Hostname != host) || c.Domain != c.Hostname {
		t.Errorf("LocalCaller() = %+v, this host is %q", c, host)
	}
}
