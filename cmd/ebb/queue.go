package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/cluster"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/pickup"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/scan"
)

// mailq and ebb queue read the spool files, so they work whether the
// daemon runs or not; changes go to the running daemon through its control
// socket, or straight into the spool files when none runs.

var mailqCmd = &cli.Command{Name: "mailq", Summary: "the queue, each recipient with its state and reason (also as mailq)", Run: runMailq}

var queueCmd = &cli.Command{Name: "queue", Summary: "inspect and act on the queue", Sub: []*cli.Command{
	{Name: "list", Summary: "the queue with reasons (as mailq)", Run: runMailq},
	{Name: "show", Args: "ID...", Summary: "envelope, headers and attempts", Run: queueShow},
	{Name: "flush", Args: "[ID...]", Summary: "retry now (all messages without ID; --domain D: what waits for D, a suspended destination too)", Run: queueOp},
	{Name: "hold", Args: "ID...", Summary: "stop delivery attempts", Run: queueOp},
	{Name: "release", Args: "ID...", Summary: "resume delivery attempts", Run: queueOp},
	{Name: "delete", Args: "ID...", Summary: "remove without a bounce", Run: queueOp},
	{Name: "requeue", Args: "ID...", Summary: "undelivered recipients start over", Run: queueOp},
}}

// queueFlags are what mailq and the queue commands share: --config beside
// -c (as older ebb took it) and the queue ids, upper-cased.
func queueFlags(c *cli.Call, min int) ([]string, int, bool) {
	c.Flags.StringVar(&c.ConfigPath, "config", "", "the config file")
	c.Hide("config")
	code, ok := c.Parse(min, -1)
	ids := make([]string, len(c.Args))
	for i, a := range c.Args {
		ids[i] = strings.ToUpper(a)
	}
	return ids, code, ok
}

func runMailq(c *cli.Call) int {
	asJSON := jsonFlag(c)
	c.Flags.Bool("v", false, "sendmail's mailq -v: the listing is always complete")
	c.Hide("v")
	if _, code, ok := queueFlags(c, 0); !ok {
		return code
	}
	cfg, code := c.Config()
	if cfg == nil {
		return code
	}
	err := queue.WriteMailq(c.Stdout, cfg, *asJSON, time.Now())
	if errors.Is(err, fs.ErrPermission) && !*asJSON {
		// The spool is closed to ordinary users (it is server.user's, 0700):
		// ask the running daemon instead, as sendmail -bp does.
		if pickup.Mailq(c.Ctx, cfg.PickupDir(), cfg.Sendmail.Socket, c.Stdout, 30*time.Second) == nil {
			return 0
		}
	}
	if err != nil {
		return c.Fail(diag.From(err, "ebb mailq", ""))
	}
	if !*asJSON {
		scan.WriteBreakerNotes(c.Stdout, filepath.Join(cfg.Server.DataDir, scan.BreakerFile), time.Now()) // a scanner the daemon is not asking
		cluster.WriteOtherQueues(c.Ctx, c.Stdout, cfg)                                                    // several hosts: theirs too
	}
	return 0
}

func queueShow(c *cli.Call) int {
	ids, code, ok := queueFlags(c, 1)
	if !ok {
		return code
	}
	cfg, code := c.Config()
	if cfg == nil {
		return code
	}
	for _, err := range queue.WriteMessages(c.Stdout, cfg.Queue.Spool, ids, time.Now()) {
		code = c.Fail(cli.Errorf(diag.ExNoInput, "%v", err))
	}
	return code
}

func queueOp(c *cli.Call) int {
	op := queue.Op(c.Cmd.Name)
	domain := ""
	min := 1
	if op == queue.OpFlush {
		c.Flags.StringVar(&domain, "domain", "", "retry what waits for this `DOMAIN` now, a suspended destination too")
		min = 0
	}
	ids, code, ok := queueFlags(c, min)
	if !ok {
		return code
	}
	cfg, code := c.Config()
	if cfg == nil {
		return code
	}
	log := slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var res []queue.OpResult
	var err error
	if domain != "" && len(ids) == 0 {
		res, err = queue.ControlDomain(c.Ctx, cfg, log, domain)
	} else {
		res, err = queue.Control(c.Ctx, cfg, log, op, ids)
	}
	if err != nil {
		return c.Fail(diag.From(err, "ebb queue", ""))
	}
	for _, r := range res {
		if r.Error != "" {
			code = c.Fail(cli.Errorf(diag.ExNoInput, "%s", r.Error))
		}
	}
	fmt.Fprintf(c.Stdout, "%s: %s\n", op, diag.Count(queue.Done(res), "message"))
	return code
}
