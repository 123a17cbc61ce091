package main

import (
	"io"
	"time"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/explain"
	"github.com/ebbmail/ebb/internal/journal"
)

// ebb explain: a message's whole story from the journal, after it has left
// the queue too, one line per event, with the cause and fix of every
// failure in mailq's words (internal/explain).
var explainCmd = &cli.Command{Name: "explain", Args: "QUEUE-ID|REF|<MESSAGE-ID>|ADDRESS",
	Summary: "a message's whole story from the journal, after delivery too",
	Help: "  QUERY is a queue id, a reference id (the \"ref\" of a reply, a log line or mailq),\n" +
		"  a Message-ID (<...>), or an address (every message to or from it)",
	Do: func(c *cli.Call) cli.Action {
		since := c.Flags.Duration("since", 0, "only events of this last period (e.g. 2h); 0: all the journal keeps")
		c.Flags.BoolVar(&c.AsJSON, "json", false, "the records as JSON")
		return func(cfg *config.Config) error {
			q, err := explain.Parse(c.Args[0], *since, time.Now())
			if err != nil {
				return c.Usage("%v", err)
			}
			a, err := explain.Read(c.Ctx, cfg, q)
			if err != nil {
				return err
			}
			c.Print(append([]journal.Record{}, a.Records...), func(w io.Writer) { a.Write(w, cfg.Queue.Spool, time.Now(), time.Local) })
			if len(a.Records) == 0 {
				return cli.Exit(diag.ExNoInput)
			}
			return nil
		}
	}}
