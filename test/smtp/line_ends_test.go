package smtp

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

var sizeInName = regexp.MustCompile(`,S=(\d+),W=(\d+)`)

// Every stored Maildir file has one line-end style, LF, whichever door the
// message came in by (SMTP, submission, sendmail with CRLF input, SMTP with
// bare LFs in DATA), with the headers ebb prepends (Received, Return-Path,
// Delivered-To) included; ,S= is the file's size and ,W= its size with
// CRLF line ends (what IMAP's RFC822.SIZE reports). On the old code the
// prepended headers were CRLF above an LF message.
func TestMaildirFilesHaveOneLineEnd(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnv(t, "")
	if r := harness.Swaks(t, "--server", e.SMTP, "--from", "s@example.org", "--to", "demo@example.test",
		"--h-Subject", "via smtp"); r.Code != 0 {
		t.Fatalf("swaks smtp: %d %s", r.Code, r.Stdout)
	}
	if r := harness.Swaks(t, "--server", e.Sub, "--from", "boss@example.test", "--to", "demo@example.test",
		"--h-Subject", "via submission"); r.Code != 0 {
		t.Fatalf("swaks submission: %d %s", r.Code, r.Stdout)
	}
	if r := e.Sendmail("Subject: via sendmail\r\nX-CRLF: yes\r\n\r\nline 1\r\nline 2\r\n", "-i", "demo@example.test"); r.Code != 0 {
		t.Fatalf("sendmail: %d %s", r.Code, r.Stderr)
	}
	// Bare LFs inside DATA (and a bare CR, which is content).
	c := harness.DialFrom(t, e.SMTP, "127.0.0.2")
	c.Cmd("EHLO client.example.org")
	c.Cmd("MAIL FROM:<s@example.org>")
	c.Cmd("RCPT TO:<demo@example.test>")
	c.Cmd("DATA")
	if got := c.Cmd("From: s@example.org\r\nSubject: bare lf\nX-Mixed: yes\r\n\nbody with\nbare LFs\r\nand a bare\rCR\r\n."); !strings.HasPrefix(got, "250") {
		t.Fatalf("DATA with bare LF: %q", got)
	}
	c.Cmd("QUIT")

	e.WaitMail("demo", 4)
	// All four done: no delivery is still to come.
	harness.WaitLogFile(t, e.LogFile(), "msg=removed ", 4, 15*time.Second)
	ents, _ := os.ReadDir(e.NewDir("demo"))
	if len(ents) != 4 {
		t.Fatalf("%d messages, want 4", len(ents))
	}
	for _, en := range ents {
		b, err := os.ReadFile(filepath.Join(e.NewDir("demo"), en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		subject := mailHeader(s, "Subject")
		if strings.Contains(s, "\r\n") {
			t.Errorf("%q: CRLF in the stored file:\n%q", subject, s)
		}
		for _, h := range []string{"Return-Path: <", "Delivered-To: demo@example.test\n"} {
			if !strings.Contains(s, h) {
				t.Errorf("%q: no %q:\n%q", subject, h, s)
			}
		}
		m := sizeInName.FindStringSubmatch(en.Name())
		if m == nil {
			t.Fatalf("no S=/W= in %s", en.Name())
		}
		lines := strings.Count(s, "\n")
		if want := fmt.Sprint(len(b)); m[1] != want {
			t.Errorf("%q: S=%s, the file has %s bytes", subject, m[1], want)
		}
		if w, _ := strconv.Atoi(m[2]); w != len(b)+lines {
			t.Errorf("%q: W=%d, want %d", subject, w, len(b)+lines)
		}
		if subject == "bare lf" && !strings.Contains(s, "\nbody with\nbare LFs\nand a bare\rCR\n") {
			t.Errorf("bare LF message stored as %q", s)
		}
	}
}
