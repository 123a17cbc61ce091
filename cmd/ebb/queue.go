package main

import (
	"log/slog"
	"time"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/cluster"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/queue"
)

// mailq and ebb queue read the spool files, so they work whether the
// daemon runs or not; changes go to the running daemon through its control
// socket, or straight into the spool files when none runs.

var mailqCmd = &cli.Command{Name: "mailq", JSON: true, Summary: "the queue, each recipient with its state and reason (also as mailq)", Do: runMailq}

var queueCmd = &cli.Command{Name: "queue", Summary: "inspect and act on the queue", Sub: []*cli.Command{
	{Name: "list", JSON: true, Summary: "the queue with reasons (as mailq)", Do: runMailq},
	{Name: "show", Args: "ID...", Summary: "envelope, headers and attempts", Do: queueShow},
	{Name: "flush", Args: "[ID...]", Summary: "retry now (all messages without ID; --domain D: what waits for D, a suspended destination too)", Do: queueOp},
	{Name: "hold", Args: "ID...", Summary: "stop delivery attempts", Do: queueOp},
	{Name: "release", Args: "ID...", Summary: "resume delivery attempts", Do: queueOp},
	{Name: "delete", Args: "ID...", Summary: "remove without a bounce", Do: queueOp},
	{Name: "requeue", Args: "ID...", Summary: "undelivered recipients start over", Do: queueOp},
}}

// configAlias is --config beside -c, as older ebb took it (mailq and the
// queue commands).
func configAlias(c *cli.Call) {
	c.Flags.StringVar(&c.ConfigPath, "config", "", "the config file")
	c.Hide("config")
}

func runMailq(c *cli.Call) cli.Action {
	c.Flags.Bool("v", false, "sendmail's mailq -v: the listing is always complete")
	c.Hide("v")
	configAlias(c)
	return func(cfg *config.Config) error {
		return cluster.Mailq(c.Ctx, c.Stdout, cfg, c.AsJSON, time.Now())
	}
}

func queueShow(c *cli.Call) cli.Action {
	configAlias(c)
	return func(cfg *config.Config) error {
		return c.FailEach(queue.WriteMessages(c.Stdout, cfg.Queue.Spool, queue.IDs(c.Args), time.Now()))
	}
}

func queueOp(c *cli.Call) cli.Action {
	domain := ""
	if c.Cmd.Name == string(queue.OpFlush) {
		c.Flags.StringVar(&domain, "domain", "", "retry what waits for this `DOMAIN` now, a suspended destination too")
	}
	configAlias(c)
	return func(cfg *config.Config) error {
		log := slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		errs, err := queue.Act(c.Ctx, c.Stdout, cfg, log, queue.Op(c.Cmd.Name), queue.IDs(c.Args), domain)
		if err != nil {
			return err
		}
		return c.FailEach(errs)
	}
}
