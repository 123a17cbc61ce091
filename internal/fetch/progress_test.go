package fetch

import (
	"regexp"
	"strings"
	"testing"
)

// On a terminal the bar is one line redrawn with \r, with count, percent,
// rate and ETA; elsewhere plain lines (every 10%), never a \r.
func TestBarDrawsOnATerminalAndWritesLinesElsewhere(t *testing.T) {
	var tty, plain strings.Builder
	for _, c := range []struct {
		b   *Bar
		out *strings.Builder
	}{{newBar(&tty, true), &tty}, {newBar(&plain, false), &plain}} {
		c.b.Folder("work", "INBOX", 20)
		for i := 0; i < 20; i++ {
			c.b.Message(4096)
		}
		c.b.Folder("work", "Lists", 0)
		c.b.Finish()
	}
	if !strings.Contains(tty.String(), "\rwork/INBOX [") || !regexp.MustCompile(`20/20 100% \d+ msg/s 80\.0 KiB ETA 0s`).MatchString(tty.String()) {
		t.Fatalf("terminal output %q", tty.String())
	}
	p := plain.String()
	if strings.Contains(p, "\r") || !strings.Contains(p, "work/INBOX: 20 new messages\n") ||
		!strings.Contains(p, "work/INBOX: 20/20 (100%)") || strings.Count(p, "\n") > 14 || !strings.Contains(p, "work/Lists: no new messages\n") {
		t.Fatalf("plain output %q", p)
	}
}
