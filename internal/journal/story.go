package journal

import (
	"fmt"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

// Story renders records as a timeline: one plain sentence per event, with
// the cause and fix of every failure in the words mailq uses (the diag
// sentence). loc is the time zone to print in.
func Story(recs []Record, loc *time.Location) []string {
	if loc == nil {
		loc = time.Local
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Time.In(loc).Format("2006-01-02 15:04:05")+"  "+r.QueueID+"  "+Sentence(r, loc))
	}
	return out
}

func angle(a string) string { return "<" + a + ">" }

// Sentence is one record in words.
func Sentence(r Record, loc *time.Location) string {
	var b strings.Builder
	switch r.Event {
	case "received":
		to := make([]string, len(r.To))
		for i, t := range r.To {
			to[i] = angle(t)
		}
		fmt.Fprintf(&b, "received from %s for %s, %s", angle(r.From), strings.Join(to, ", "), diag.HumanBytes(uint64(r.Size)))
		if r.MessageID != "" {
			fmt.Fprintf(&b, ", Message-ID %s", r.MessageID)
		}
		if r.Subject != "" {
			fmt.Fprintf(&b, ", subject %q", r.Subject)
		}
		switch {
		case r.Client != "":
			fmt.Fprintf(&b, "; from %s", r.Client)
			if r.Helo != "" {
				fmt.Fprintf(&b, " (HELO %s)", r.Helo)
			}
		case r.Proto != "":
			fmt.Fprintf(&b, "; locally")
		}
		if r.Listener != "" {
			fmt.Fprintf(&b, " on the %s listener", r.Listener)
		}
		if r.Proto != "" {
			fmt.Fprintf(&b, " over %s", r.Proto)
		}
		if r.Auth != "" {
			fmt.Fprintf(&b, ", authenticated as %s", r.Auth)
		}
	case "check":
		fmt.Fprintf(&b, "checked by %s: %s", r.Checker, r.Detail)
	case "delivered":
		fmt.Fprintf(&b, "delivered to %s", angle(r.Rcpt))
		attempt(&b, r)
		if r.Detail != "" {
			fmt.Fprintf(&b, ": %s", r.Detail)
		}
	case "deferred":
		fmt.Fprintf(&b, "deferred for %s", angle(r.Rcpt))
		attempt(&b, r)
		failure(&b, r)
		if !r.Next.IsZero() {
			fmt.Fprintf(&b, "; next attempt at %s", r.Next.In(loc).Format("15:04:05"))
		}
	case "failed":
		fmt.Fprintf(&b, "failed for %s", angle(r.Rcpt))
		attempt(&b, r)
		failure(&b, r)
	case "expired":
		fmt.Fprintf(&b, "given up for %s", angle(r.Rcpt))
		failure(&b, r)
	case "dsn":
		switch r.Detail {
		case "success":
			fmt.Fprintf(&b, "success notice (DSN) queued for %s as %s", angle(r.Rcpt), r.DSNID)
		case "delay":
			fmt.Fprintf(&b, "delay notice (DSN) queued for %s as %s", angle(r.Rcpt), r.DSNID)
		default:
			fmt.Fprintf(&b, "bounce (DSN) queued for %s as %s", angle(r.Rcpt), r.DSNID)
		}
	case "removed":
		if r.Detail == "done" {
			b.WriteString("left the queue: nothing more to do")
		} else {
			fmt.Fprintf(&b, "left the queue: %s", r.Detail)
		}
	case "operation":
		b.WriteString(r.Detail)
	default:
		fmt.Fprintf(&b, "%s %s", r.Event, r.Detail)
	}
	return b.String()
}

func attempt(b *strings.Builder, r Record) {
	var parts []string
	if r.Route != "" {
		parts = append(parts, r.Route)
	}
	if r.Attempt > 0 {
		parts = append(parts, fmt.Sprintf("attempt %d", r.Attempt))
	}
	if r.Millis > 0 {
		parts = append(parts, fmt.Sprintf("%d ms", r.Millis))
	}
	if len(parts) > 0 {
		fmt.Fprintf(b, " (%s)", strings.Join(parts, ", "))
	}
}

func failure(b *strings.Builder, r Record) {
	if r.Error != nil {
		fmt.Fprintf(b, ": %s", r.Error.Sentence())
		if r.Error.Ref != "" {
			fmt.Fprintf(b, " [ref %s]", r.Error.Ref)
		}
	}
}
