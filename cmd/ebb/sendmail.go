package main

import (
	"fmt"
	"os"
	"time"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/pickup"
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
	o, err := sendmail.Parse("sendmail", c.Args)
	if err == nil {
		err = sendmail.CheckConfigOption(o, sendmail.ProcessCredentials())
	}
	if err != nil {
		return c.Fail(cli.Errorf(diag.ExUsage, "%v", err))
	}
	c.ConfigPath = o.Config
	if c.ConfigPath == "" {
		c.ConfigPath = os.Getenv("EBB_CONFIG")
	}
	switch o.Mode {
	case sendmail.ModeIgnore:
		return 0
	case sendmail.ModeNewAliases:
		if o.Verbose {
			fmt.Fprintln(c.Stderr, "sendmail: aliases live in ebb's directory (ebb alias ...); there is no alias file to rebuild")
		}
		return 0
	case sendmail.ModeMailq:
		// Through the daemon first: the spool is closed to ordinary users.
		if cfg, err := config.Load(c.ConfigPath); err == nil {
			if err := pickup.Mailq(c.Ctx, cfg.PickupDir(), cfg.Sendmail.Socket, c.Stdout, 30*time.Second); err == nil {
				return 0
			}
		}
		var args []string
		if c.ConfigPath != "" {
			args = []string{"-c", c.ConfigPath}
		}
		return cli.Dispatch(c.Env, mailqCmd, "ebb mailq", args)
	}
	cfg, code := c.Config()
	if cfg == nil {
		return code
	}
	if err := sendmail.Run(c.Ctx, cfg, o, c.Stdin, c.Stdout, c.Stderr, time.Now); err != nil {
		return c.Fail(err)
	}
	return 0
}
