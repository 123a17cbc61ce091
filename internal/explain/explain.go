// Package explain answers `ebb explain QUERY`: what the administrator typed
// (a reference id, a queue id, a Message-ID, an address) becomes a journal
// query; its records are read from this host's journal, or from the one
// several hosts share (internal/cluster), and followed across hosts; and
// the story is told in words (journal.Story), with what the queue holds of
// the message now. cmd/ebb keeps the flags.
package explain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/cluster"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/journal"
	"github.com/ebbmail/ebb/internal/queue"
)

// Query is a classified question.
type Query struct {
	// Text is the query as typed, for the answer's words.
	Text string
	// Since is the period asked about (0: all the journal keeps).
	Since time.Duration
	// Journal is what it asks the journal.
	Journal journal.Query
	// ByAddress: every message to or from an address, one line each,
	// rather than one message's story.
	ByAddress bool
}

// Parse classifies text: a Message-ID in <>; a reference id (the "ref" of
// a reply, a log line or mailq), which is also tried as a queue id of that
// shape; a queue id; an address. Anything else is an error the command
// reports as a usage error. since > 0 limits the answer to that last
// period before now.
func Parse(text string, since time.Duration, now time.Time) (Query, error) {
	q := Query{Text: text, Since: since}
	up := strings.ToUpper(text)
	switch {
	case strings.HasPrefix(text, "<"):
		q.Journal.MessageID = text
	case diag.IsRef(up):
		// Its record, and its message's whole story.
		q.Journal.Ref, q.Journal.QueueID = up, up
	case queue.ValidID(up):
		q.Journal.QueueID = up
	case strings.Contains(text, "@"):
		q.Journal.Address, q.ByAddress = text, true
	default:
		return q, fmt.Errorf("%q is neither a queue id, a reference id, a Message-ID nor an address", text)
	}
	if since > 0 {
		q.Journal.Since = now.Add(-since)
	}
	return q, nil
}

// Answer is what the journal holds about a query.
type Answer struct {
	Query   Query
	Records []journal.Record
	// Skipped counts the torn or unreadable journal lines passed over.
	Skipped int
	// Where names the journal read: a directory, or a database too.
	Where string
}

// Find reads q's records from src. An address that finds nothing is tried
// as a Message-ID written without its <>; one message's story is followed
// to the hops before and after this host (MX → delivery host).
func Find(ctx context.Context, src journal.Source, q Query) (*Answer, error) {
	a := &Answer{Query: q, Where: src.Where()}
	var err error
	a.Records, a.Skipped, err = src.Read(ctx, q.Journal)
	if err == nil && q.ByAddress && len(a.Records) == 0 {
		a.Records, a.Skipped, err = src.Read(ctx, journal.Query{MessageID: q.Text, Since: q.Journal.Since})
		if len(a.Records) > 0 {
			a.Query.ByAddress = false
		}
	}
	if err == nil && !a.Query.ByAddress {
		var more int
		a.Records, more, err = journal.Follow(ctx, src, a.Records, q.Journal.Since)
		a.Skipped += more
	}
	return a, err
}

// Read is Find on cfg's journal: this host's files (journal.dir) and, with
// several hosts sharing state, the journal every host writes. A journal it
// cannot read is a *diag.Error naming journal.dir (the shared database's
// own errors are already one).
func Read(ctx context.Context, cfg *config.Config, q Query) (*Answer, error) {
	src, closeSrc, err := cluster.JournalOf(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer closeSrc()
	a, err := Find(ctx, src, q)
	if err == nil {
		return a, nil
	}
	if _, ok := diag.As(err); ok {
		return nil, err
	}
	de := diag.PathError("ebb explain", "read", "read the journal in", cfg.JournalDir(), err, cfg.Setting("journal.dir"))
	if errors.Is(err, fs.ErrNotExist) {
		de.SetFix(diag.Steps(diag.Say("the journal is written by ebb serve (journal.enabled): nothing has been journaled there yet, or journal.dir points elsewhere")))
	}
	return nil, de
}

// Write tells the answer, in loc's time: for an address one line per
// message, otherwise the story, then what the queue in spool holds of each
// message still there (in mailq's words, at now), and how many journal
// lines were unreadable. With no records it says so.
func (a *Answer) Write(w io.Writer, spool string, now time.Time, loc *time.Location) {
	if len(a.Records) == 0 {
		fmt.Fprintf(w, "nothing in the journal (%s) about %s", a.Where, a.Query.Text)
		if a.Query.Since > 0 {
			fmt.Fprintf(w, " in the last %s", a.Query.Since)
		}
		fmt.Fprintln(w)
		return
	}
	if a.Query.ByAddress {
		writeLines(w, journal.Summaries(a.Records, loc))
	} else {
		writeLines(w, journal.Story(a.Records, loc))
		a.writeQueued(w, spool, now)
	}
	if a.Skipped > 0 {
		fmt.Fprintf(w, "(%d torn or unreadable journal lines skipped)\n", a.Skipped)
	}
}

// writeQueued says what mailq says now of every message of the story
// still in the queue.
func (a *Answer) writeQueued(w io.Writer, spool string, now time.Time) {
	seen := map[string]bool{}
	for _, r := range a.Records {
		if seen[r.QueueID] || r.QueueID == "" { // "": refused before a queue id, never queued
			continue
		}
		seen[r.QueueID] = true
		if m, err := queue.ReadMessage(spool, r.QueueID); err == nil {
			fmt.Fprintf(w, "now in the queue:\n")
			l := &queue.Listing{Messages: []*queue.Message{m}}
			queue.WriteListing(w, l, queue.Summarize(l), now)
		}
	}
}

func writeLines(w io.Writer, lines []string) {
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}
