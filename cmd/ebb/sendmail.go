package main

import (
	"time"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/cluster"
	"github.com/ebbmail/ebb/internal/sendmail"
)

// ebb sendmail, and ebb invoked as sendmail: the sendmail(8) command line
// that cron, mailx, PHP and scripts use (internal/sendmail parses it and
// runs it). The message goes to the daemon through the pickup directory
// and its socket (internal/pickup, docs/sendmail.md); the spool stays
// closed to the caller.
//
// Exit codes (sysexits): 0 once the message is durable, 64 for a command
// line ebb cannot accept, 65 for a message it cannot take, 75 when it
// could not be made durable (the diag sentence says why), 78 for a bad
// config.
var sendmailCmd = &cli.Command{Name: "sendmail", RawArgs: true, Args: "[-t] [-i] [-f SENDER] [-F NAME] [-bs|-bp|-q] [RCPT...]",
	Summary: "sendmail(8) for cron, mailx and scripts (also as sendmail): the message on stdin",
	Help:    "  The options of sendmail(8) as Postfix and Exim take them: see docs/sendmail.md.",
	Run:     runSendmail}

func runSendmail(c *cli.Call) int {
	if c.Name != "sendmail" && len(c.Args) == 1 && (c.Args[0] == "--help" || c.Args[0] == "-h") {
		c.PrintHelp(c.Stdout) // as sendmail, -h is the hop count
		return 0
	}
	c.Name = "sendmail" // its messages say sendmail, as scripts expect
	o, done, err := sendmail.Command(c.Args, sendmail.ProcessCredentials(), c.Stderr)
	if err != nil || done {
		return c.End(err)
	}
	c.ConfigPath = o.Config
	cfg, code := c.Config()
	if cfg == nil {
		return code
	}
	if o.Mode == sendmail.ModeMailq {
		// As ebb mailq: the spool, or the daemon when the spool is closed
		// to the caller (asked once: a hung daemon costs one timeout).
		return c.End(cluster.Mailq(c.Ctx, c.Stdout, cfg, false, time.Now()))
	}
	return c.End(sendmail.Run(c.Ctx, cfg, o, c.Stdin, c.Stdout, c.Stderr, time.Now))
}
