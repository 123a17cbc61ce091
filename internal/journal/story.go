package journal

import (
	"fmt"
	"sort"
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
	told := map[string]bool{} // refs whose error was said in full already
	for _, r := range recs {
		line := r.Time.In(loc).Format("2006-01-02 15:04:05") + "  "
		if r.Host != "" {
			// A journal several hosts share: which host it happened on.
			line += r.Host + "  "
		}
		line += r.Key() + "  "
		if r.Error != nil && r.Error.Ref != "" && told[r.Error.Ref] {
			// The same trouble told twice (the queue, then the SMTP
			// session that answered for it): once in full is enough.
			c := r
			c.Error = nil
			out = append(out, line+Sentence(c, loc)+" (the reason is above)")
			continue
		}
		if r.Error != nil && r.Error.Ref != "" {
			told[r.Error.Ref] = true
		}
		out = append(out, line+Sentence(r, loc))
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
		if len(r.Unshown) > 0 {
			fmt.Fprintf(&b, ", %s not read (past the first 64 KiB of the header)", strings.Join(r.Unshown, " and "))
		}
		client(&b, r)
	case "check":
		// Detail is the header field the check added ("Authentication-
		// Results: ..."): its name already says which check it was.
		if strings.HasPrefix(strings.ToLower(r.Detail), strings.ToLower(r.Checker)+":") || r.Checker == "" {
			fmt.Fprintf(&b, "checked: %s", r.Detail)
		} else {
			fmt.Fprintf(&b, "checked by %s: %s", r.Checker, r.Detail)
		}
	case "refused":
		stage := strings.ToUpper(r.Stage)
		if stage == "" {
			stage = "DATA"
		}
		if r.Stage == "auth" {
			// A login our trouble kept from being checked; Auth is the
			// account it tried, not one logged in.
			b.WriteString("login refused at AUTH")
			if r.Auth != "" { // a source refused before it named an account has none
				fmt.Fprintf(&b, " for %s", angle(r.Auth))
			}
			c := r
			c.Auth = ""
			client(&b, c)
			fmt.Fprintf(&b, "; replied %s", r.Reply)
			if r.Error != nil {
				fmt.Fprintf(&b, ": %s", r.Error.Sentence())
			}
			flood(&b, r)
			break
		}
		if r.Stage == "connection" {
			// A reply that closed (or refused) the connection itself:
			// a timeout, too many errors, the limits, a shutdown.
			b.WriteString("connection closed by ebb")
			client(&b, r)
			fmt.Fprintf(&b, "; replied %s", r.Reply)
			if r.Error != nil {
				fmt.Fprintf(&b, ": %s", r.Error.Sentence())
			}
			flood(&b, r)
			break
		}
		if r.Reply == "" && r.Stage == "data" {
			// No reply reached the client: it left during the message.
			b.WriteString("not received: the client left during the message")
		} else {
			fmt.Fprintf(&b, "refused at %s", stage)
		}
		if r.From != "" || r.Stage != "mail" {
			fmt.Fprintf(&b, " from %s", angle(r.From))
		}
		if len(r.To) > 0 {
			to := make([]string, len(r.To))
			for i, t := range r.To {
				to[i] = angle(t)
			}
			fmt.Fprintf(&b, " for %s", strings.Join(to, ", "))
		}
		if r.Size > 0 {
			fmt.Fprintf(&b, ", %s", diag.HumanBytes(uint64(r.Size)))
		}
		if r.MessageID != "" {
			fmt.Fprintf(&b, ", Message-ID %s", r.MessageID)
		}
		client(&b, r)
		if r.Reply != "" {
			fmt.Fprintf(&b, "; replied %s", r.Reply)
		}
		// A policy's answer is its reply; our trouble and a verdict say
		// why in full, with the fix.
		if e := r.Error; e != nil && (e.Hint != "" || e.Path != "" && e.Reason != "" && !strings.Contains(r.Reply, e.Reason) || r.Reply == "") {
			fmt.Fprintf(&b, ": %s", e.Sentence())
		}
		flood(&b, r)
	case "repeated":
		// The follow-up of a refused record: refusals of its kind from
		// its source (or, over the bound, of any kind from any source)
		// shared its ref and this one record.
		fmt.Fprintf(&b, "refused %d %s in all under this ref between %s and %s",
			r.Count, diag.Plural(r.Count, "time"), r.First.In(loc).Format("15:04:05"), r.Time.In(loc).Format("15:04:05"))
		if r.Detail == FloodDetail {
			b.WriteString(", refusals of any kind from any source (the flood ref)")
		} else if r.Client != "" {
			fmt.Fprintf(&b, ", each like the first, from %s", shareSource(r.Client))
		}
		if r.Listener != "" {
			fmt.Fprintf(&b, " on the %s listener", r.Listener)
		}
		b.WriteString(": the same refusal from the same source within a minute shares one ref and one journal record (ebb_smtp_refusals_total counts each)")
	case "not-queued":
		b.WriteString("not queued")
		if r.From != "" || len(r.To) > 0 {
			fmt.Fprintf(&b, " (from %s for %d %s)", angle(r.From), len(r.To), diag.Plural(len(r.To), "recipient"))
		}
		failure(&b, r)
	case "delivered":
		fmt.Fprintf(&b, "delivered to %s", angle(r.Rcpt))
		attempt(&b, r)
		if r.Detail != "" {
			fmt.Fprintf(&b, ": %s", r.Detail)
		}
		if r.NextID != "" && !strings.Contains(r.Detail, r.NextID) {
			fmt.Fprintf(&b, " (there %s)", r.NextID)
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
		kind, more, _ := strings.Cut(r.Detail, "; ")
		switch kind {
		case "success":
			fmt.Fprintf(&b, "success notice (DSN) queued for %s as %s", angle(r.Rcpt), r.DSNID)
		case "delay":
			fmt.Fprintf(&b, "delay notice (DSN) queued for %s as %s", angle(r.Rcpt), r.DSNID)
		default:
			fmt.Fprintf(&b, "bounce (DSN) queued for %s as %s", angle(r.Rcpt), r.DSNID)
		}
		if more != "" {
			b.WriteString("; " + more)
		}
	case "removed":
		if r.Detail == "done" {
			b.WriteString("left the queue: nothing more to do")
		} else {
			fmt.Fprintf(&b, "left the queue: %s", r.Detail)
		}
	case "operation":
		b.WriteString(r.Detail)
	case "fetch-skipped":
		// A message a fetch account could not deliver here: it stays on
		// the remote server (QueueID is its queue id when it was queued,
		// else its refusal's ref).
		fmt.Fprintf(&b, "fetched message for %s skipped", angle(r.Rcpt))
		if r.Size > 0 {
			fmt.Fprintf(&b, " (%s)", diag.HumanBytes(uint64(r.Size)))
		}
		failure(&b, r)
		if d := strings.TrimSpace(strings.TrimPrefix(r.Detail, "- ")); d != "" {
			fmt.Fprintf(&b, "; %s", d)
		}
	default:
		fmt.Fprintf(&b, "%s %s", r.Event, r.Detail)
	}
	return b.String()
}

// FloodDetail marks the refused record (and its repeated follow-up) of
// the flood ref: more refusals a second than the journal takes records
// for, which then share that one ref, whatever their kind and source.
const FloodDetail = "flood"

// flood says so of the flood ref's record.
func flood(b *strings.Builder, r Record) {
	if r.Detail == FloodDetail {
		b.WriteString(" (more refusals a second than the journal takes records for: every further refusal of any kind from any source shares this ref until its window ends, and its follow-up says how many)")
	}
}

// shareSource is the unit refusals share a ref by: the address, or an
// IPv6 address's /64.
func shareSource(ip string) string {
	if strings.Contains(ip, ":") {
		return ip + " (or its /64)"
	}
	return ip
}

// client says where a message came from: the client and its HELO, the
// listener, the protocol, the login.
func client(b *strings.Builder, r Record) {
	switch {
	case r.Client != "":
		fmt.Fprintf(b, "; from %s", r.Client)
		if r.Helo != "" {
			fmt.Fprintf(b, " (HELO %s)", r.Helo)
		}
	case r.Proto != "":
		fmt.Fprintf(b, "; locally")
	}
	if r.Listener != "" {
		fmt.Fprintf(b, " on the %s listener", r.Listener)
	}
	if r.Proto != "" {
		fmt.Fprintf(b, " over %s", r.Proto)
	}
	if r.Auth != "" {
		fmt.Fprintf(b, ", authenticated as %s", r.Auth)
	}
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

// Summaries is one line per message, for ebb explain ADDRESS: when (in
// loc), id, sender → recipients, subject, and how each recipient ended (or
// stands: "waiting").
func Summaries(recs []Record, loc *time.Location) []string {
	type msg struct {
		first    time.Time
		from     string
		to       []string
		subject  string
		outcomes map[string]string
	}
	ms := map[string]*msg{}
	var order []string
	for _, r := range recs {
		m := ms[r.Key()] // a refusal before a queue id: by its ref
		if m == nil {
			m = &msg{first: r.Time, outcomes: map[string]string{}}
			ms[r.Key()] = m
			order = append(order, r.Key())
		}
		switch r.Event {
		case "received", "refused", "not-queued":
			m.from, m.to, m.subject = r.From, r.To, r.Subject
			if r.Event != "received" {
				for _, t := range r.To {
					m.outcomes[t] = r.Event
				}
			}
		case "delivered", "deferred", "failed", "expired":
			m.outcomes[r.Rcpt] = r.Event
		case "fetch-skipped":
			if len(m.to) == 0 { // never queued: the mailbox it was fetched for
				m.to = []string{r.Rcpt}
			}
			m.outcomes[r.Rcpt] = "fetched and skipped (left on its server)"
		}
	}
	sort.SliceStable(order, func(i, k int) bool { return ms[order[i]].first.Before(ms[order[k]].first) })
	var out []string
	for _, id := range order {
		m := ms[id]
		var oc []string
		for _, t := range m.to {
			st := m.outcomes[t]
			if st == "" {
				st = "waiting"
			}
			oc = append(oc, "<"+t+"> "+st)
		}
		l := fmt.Sprintf("%s  %s  from <%s>: %s", m.first.In(loc).Format("2006-01-02 15:04:05"), id, m.from, strings.Join(oc, ", "))
		if m.subject != "" {
			l += fmt.Sprintf("  %q", m.subject)
		}
		out = append(out, l)
	}
	return out
}
