package queue

import (
	"fmt"
	"strings"

	"github.com/ebbmail/ebb/internal/diag"
)

// remoteReason is the group name of a failure a remote server answered
// (diag.Remote with a reply code): who said it and its first line,
// "mx.example.net[192.0.2.1] 451 4.7.1 greylisted (at RCPT)", so that
// every recipient the same server deferred for the same cause counts
// once in mailq's summary.
func remoteReason(d *diag.Error, rcpt string) (string, bool) {
	r := d.Remote
	if r == nil || r.Code == 0 {
		return "", false
	}
	var b strings.Builder
	b.WriteString(r.Host)
	if r.IP != "" {
		fmt.Fprintf(&b, "[%s]", r.IP)
	}
	fmt.Fprintf(&b, " %d", r.Code)
	if r.Enhanced != "" {
		b.WriteString(" " + r.Enhanced)
	}
	text, _, _ := strings.Cut(r.Text, "\n")
	if text = generalise(strings.TrimSpace(text), rcpt); text != "" {
		b.WriteString(" " + text)
	}
	if r.Step != "" {
		fmt.Fprintf(&b, " (at %s)", r.Step)
	}
	return b.String(), true
}
