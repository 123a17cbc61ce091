package sendmail

import (
	"strings"
	"testing"
	"unicode"
)

// A full name from -F or $NAME never brings a control character or a line
// break into the From: header ebb writes.
func TestFormatMailboxDropsWhatNoHeaderMayCarry(t *testing.T) {
	for in, want := range map[string]string{
		"Cron Daemon":           "Cron Daemon <root@example.test>",
		"Evil\r\nBcc: victim@x": `"EvilBcc: victim@x" <root@example.test>`,
		"\x1b[31mRed\x1b[0m":    `"[31mRed[0m" <root@example.test>`,
		"Jürgen \x01Müller":     "Jürgen Müller <root@example.test>",
		"bad \xff utf8":         "bad  utf8 <root@example.test>",
		"Smith, John":           `"Smith, John" <root@example.test>`,
		"\x00":                  "root@example.test",
	} {
		got := FormatMailbox(in, "root@example.test")
		if got != want {
			t.Errorf("FormatMailbox(%q) = %q, want %q", in, got, want)
		}
		if strings.IndexFunc(got, unicode.IsControl) >= 0 {
			t.Errorf("control character in %q", got)
		}
	}
}
