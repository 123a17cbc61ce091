package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/journal"
	"github.com/ebbmail/ebb/internal/queue"
)

const explainUsage = `usage: ebb explain [-c FILE] [--since DURATION] [--json] QUERY
  QUERY is a queue id, a reference id (the "ref" of a reply, a log line or mailq),
  a Message-ID (<...>), or an address (every message to or from it)`

// runExplain is `ebb explain`: a message's whole story from the journal
// (internal/journal), after it has left the queue too, one line per event,
// with the cause and fix of every failure in mailq's words.
func runExplain(e *env) int {
	fset := flag.NewFlagSet("explain", flag.ContinueOnError)
	fset.SetOutput(e.stderr)
	cfgPath := fset.String("c", "", "config file")
	since := fset.Duration("since", 0, "only events of this last period (e.g. 2h); 0: all the journal keeps")
	asJSON := fset.Bool("json", false, "the records as JSON")
	fset.Usage = func() { fmt.Fprintln(e.stderr, explainUsage) }
	args, err := parseInterleaved(fset, e.args)
	if err != nil {
		return diag.ExUsage
	}
	if len(args) != 1 {
		fmt.Fprintln(e.stderr, explainUsage)
		return diag.ExUsage
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return diag.ExConfig
	}
	query := args[0]
	var q journal.Query
	byAddress := false
	switch {
	case strings.HasPrefix(query, "<"):
		q.MessageID = query
	case diag.IsRef(strings.ToUpper(query)):
		// A ref a client, the log or mailq showed (or a queue id of
		// that shape): its record, and its message's whole story.
		q.Ref, q.QueueID = strings.ToUpper(query), strings.ToUpper(query)
	case queue.ValidID(strings.ToUpper(query)):
		q.QueueID = strings.ToUpper(query)
	case strings.Contains(query, "@"):
		q.Address, byAddress = query, true
	default:
		fmt.Fprintf(e.stderr, "ebb explain: %q is neither a queue id, a reference id, a Message-ID nor an address\n", query)
		return diag.ExUsage
	}
	if *since > 0 {
		q.Since = time.Now().Add(-*since)
	}
	dir := cfg.JournalDir()
	recs, skipped, err := journal.Read(dir, q)
	if err == nil && byAddress && len(recs) == 0 {
		// An address-looking Message-ID without its <>.
		recs, skipped, err = journal.Read(dir, journal.Query{MessageID: query, Since: q.Since})
		if len(recs) > 0 {
			byAddress = false
		}
	}
	if err != nil {
		de := diag.PathError("ebb explain", "read", "read the journal in", dir, err, cfg.Setting("journal.dir"))
		if errors.Is(err, fs.ErrNotExist) {
			de.Hint = "the journal is written by ebb serve (journal.enabled); nothing has been journaled there yet, or journal.dir points elsewhere"
		}
		fmt.Fprintln(e.stderr, de.Sentence())
		return de.ExitCode()
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if recs == nil {
			recs = []journal.Record{}
		}
		enc.Encode(recs)
		return exitFound(len(recs))
	}
	if len(recs) == 0 {
		fmt.Fprintf(e.stdout, "nothing in the journal (%s) about %s", dir, query)
		if *since > 0 {
			fmt.Fprintf(e.stdout, " in the last %s", *since)
		}
		fmt.Fprintln(e.stdout)
		return diag.ExNoInput
	}
	if byAddress {
		for _, l := range summaries(recs, cfg.Queue.Spool) {
			fmt.Fprintln(e.stdout, l)
		}
	} else {
		for _, l := range journal.Story(recs, time.Local) {
			fmt.Fprintln(e.stdout, l)
		}
		// Still queued: what mailq says now.
		seen := map[string]bool{}
		for _, r := range recs {
			if seen[r.QueueID] {
				continue
			}
			seen[r.QueueID] = true
			if r.QueueID == "" {
				continue // refused before a queue id: never queued
			}
			if m, err := queue.ReadMessage(cfg.Queue.Spool, r.QueueID); err == nil {
				fmt.Fprintf(e.stdout, "now in the queue:\n")
				l := &queue.Listing{Messages: []*queue.Message{m}}
				queue.WriteListing(e.stdout, l, queue.Summarize(l), time.Now())
			}
		}
	}
	if skipped > 0 {
		fmt.Fprintf(e.stdout, "(%d torn or unreadable journal lines skipped)\n", skipped)
	}
	return 0
}

func exitFound(n int) int {
	if n == 0 {
		return diag.ExNoInput
	}
	return 0
}

// summaries is one line per message: when, id, sender → recipients,
// subject, and how each recipient ended (or stands).
func summaries(recs []journal.Record, spool string) []string {
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
		l := fmt.Sprintf("%s  %s  from <%s>: %s", m.first.Local().Format("2006-01-02 15:04:05"), id, m.from, strings.Join(oc, ", "))
		if m.subject != "" {
			l += fmt.Sprintf("  %q", m.subject)
		}
		out = append(out, l)
	}
	return out
}
