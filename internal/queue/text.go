package queue

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

// WriteListing writes the mailq listing of l (and its summary) as text.
func WriteListing(w io.Writer, l *Listing, sum Summary, now time.Time) {
	if len(l.Messages) == 0 && l.Incomplete == 0 && len(l.Damaged) == 0 {
		fmt.Fprintln(w, "Mail queue is empty")
		return
	}
	for _, m := range l.Messages {
		held := ""
		if m.Held {
			held = "  HELD"
		}
		fmt.Fprintf(w, "%s  %s  age %s  from %s%s\n", m.ID, diag.HumanBytes(uint64(m.Size)),
			FormatAge(m.Age(now)), addr(m.From()), held)
		for _, r := range m.Recipients {
			fmt.Fprintf(w, "  %-9s %s", r.State, addr(r.Address))
			if r.Attempts > 0 {
				fmt.Fprintf(w, "  attempts %d", r.Attempts)
			}
			if r.State == Deferred {
				fmt.Fprintf(w, "  next %s", NextAttempt(r.Next, now, m.Held))
			}
			if r.Error != nil && r.Error.Ref != "" && r.State != Delivered {
				fmt.Fprintf(w, "  ref %s", r.Error.Ref)
			}
			fmt.Fprintln(w)
			if r.Error != nil && r.State != Delivered {
				fmt.Fprintf(w, "            %s\n", r.Error.Sentence())
			}
		}
		fmt.Fprintln(w)
	}
	for _, d := range l.Damaged {
		fmt.Fprintf(w, "damaged: %s: %s\n", d.Path, d.Error)
	}
	if l.Incomplete > 0 {
		fmt.Fprintf(w, "%d data files without an envelope (receives in progress, or left by a crash and never acknowledged)\n", l.Incomplete)
	}
	var states []string
	for _, st := range []State{Pending, Deferred, Failed, Delivered} {
		if n := sum.ByState[st]; n > 0 {
			states = append(states, fmt.Sprintf("%d %s", n, st))
		}
	}
	fmt.Fprintf(w, "-- %d messages", sum.Messages)
	if sum.Held > 0 {
		fmt.Fprintf(w, " (%d held)", sum.Held)
	}
	fmt.Fprintf(w, ", %d recipients: %s\n", sum.Recipients, strings.Join(states, ", "))
	for _, g := range sum.Reasons {
		fmt.Fprintf(w, "%d %s: %s\n", g.Count, g.State, g.Reason)
		if g.Hint != "" {
			fmt.Fprintf(w, "    fix: %s\n", g.Hint)
		}
	}
}

func addr(a string) string { return "<" + a + ">" }

// NextAttempt says when a deferred recipient is tried again.
func NextAttempt(next, now time.Time, held bool) string {
	if held {
		return "when released"
	}
	if next.IsZero() || !next.After(now) {
		return "now"
	}
	return fmt.Sprintf("in %s (%s)", FormatAge(next.Sub(now)), next.Local().Format("15:04:05"))
}
