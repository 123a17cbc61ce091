package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/cluster"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/journal"
	"github.com/ebbmail/ebb/internal/queue"
)

// ebb explain: a message's whole story from the journal (internal/journal),
// after it has left the queue too, one line per event, with the cause and
// fix of every failure in mailq's words.
var explainCmd = &cli.Command{Name: "explain", Args: "QUEUE-ID|REF|<MESSAGE-ID>|ADDRESS",
	Summary: "a message's whole story from the journal, after delivery too",
	Help: "  QUERY is a queue id, a reference id (the \"ref\" of a reply, a log line or mailq),\n" +
		"  a Message-ID (<...>), or an address (every message to or from it)",
	Run: runExplain}

func runExplain(c *cli.Call) int {
	since := c.Flags.Duration("since", 0, "only events of this last period (e.g. 2h); 0: all the journal keeps")
	asJSON := c.Flags.Bool("json", false, "the records as JSON")
	cfg, code := c.ParseConfig(1, 1)
	if cfg == nil {
		return code
	}
	query := c.Args[0]
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
		return c.Usagef("%q is neither a queue id, a reference id, a Message-ID nor an address", query)
	}
	if *since > 0 {
		q.Since = time.Now().Add(-*since)
	}
	dir := cfg.JournalDir()
	// This host's files, and with several hosts sharing state the
	// journal every host writes (internal/cluster).
	src, closeSrc, err := cluster.JournalOf(c.Ctx, cfg)
	if err != nil {
		return c.Fail(err)
	}
	defer closeSrc()
	recs, skipped, err := src.Read(c.Ctx, q)
	if err == nil && byAddress && len(recs) == 0 {
		// An address-looking Message-ID without its <>.
		recs, skipped, err = src.Read(c.Ctx, journal.Query{MessageID: query, Since: q.Since})
		if len(recs) > 0 {
			byAddress = false
		}
	}
	if err == nil && !byAddress {
		// The hops before and after this host (MX → delivery host).
		var more int
		recs, more, err = journal.Follow(c.Ctx, src, recs, q.Since)
		skipped += more
	}
	if _, isDiag := diag.As(err); isDiag {
		return c.Fail(err) // the shared database's own words
	}
	if err != nil {
		de := diag.PathError("ebb explain", "read", "read the journal in", dir, err, cfg.Setting("journal.dir"))
		if errors.Is(err, fs.ErrNotExist) {
			de.SetFix(diag.Steps(diag.Say("the journal is written by ebb serve (journal.enabled): nothing has been journaled there yet, or journal.dir points elsewhere")))
		}
		return c.Fail(de)
	}
	if *asJSON {
		if recs == nil {
			recs = []journal.Record{}
		}
		c.JSON(recs)
		if len(recs) == 0 {
			return diag.ExNoInput
		}
		return 0
	}
	if len(recs) == 0 {
		fmt.Fprintf(c.Stdout, "nothing in the journal (%s) about %s", src.Where(), query)
		if *since > 0 {
			fmt.Fprintf(c.Stdout, " in the last %s", *since)
		}
		fmt.Fprintln(c.Stdout)
		return diag.ExNoInput
	}
	if byAddress {
		printLines(c.Stdout, journal.Summaries(recs, time.Local))
	} else {
		printLines(c.Stdout, journal.Story(recs, time.Local))
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
				fmt.Fprintf(c.Stdout, "now in the queue:\n")
				l := &queue.Listing{Messages: []*queue.Message{m}}
				queue.WriteListing(c.Stdout, l, queue.Summarize(l), time.Now())
			}
		}
	}
	if skipped > 0 {
		fmt.Fprintf(c.Stdout, "(%d torn or unreadable journal lines skipped)\n", skipped)
	}
	return 0
}

func printLines(w io.Writer, lines []string) {
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}
