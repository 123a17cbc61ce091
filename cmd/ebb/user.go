package main

import (
	"fmt"
	"strings"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
)

var userCmd = &cli.Command{Name: "user", Summary: "mailboxes",
	Help: "  Passwords are read from a prompt, or from the first line of stdin; never from the command line.",
	Sub: []*cli.Command{
		{Name: "add", Args: "ADDRESS", Summary: "add a mailbox (password on stdin or at the prompt)", Do: userAdd},
		{Name: "passwd", Args: "ADDRESS", Summary: "change a mailbox's password (on stdin or at the prompt)", Do: userPasswd},
		{Name: "list", Args: "[DOMAIN]", JSON: true, Summary: "the mailboxes, of one domain or all", Do: userList},
		{Name: "remove", Args: "ADDRESS", Summary: "remove a mailbox; its mail stays unless --delete-mail", Do: userRemove},
		{Name: "quota", Args: "ADDRESS SIZE [MESSAGES]", Summary: "set the quota (0: the mail.quota default)", Do: userQuota},
		{Name: "enable", Args: "ADDRESS", Summary: "let the mailbox receive mail and log in again", Do: userEnable},
		{Name: "disable", Args: "ADDRESS", Summary: "stop the mailbox taking mail and logging in; nothing is deleted", Do: userEnable},
		{Name: "check", Args: "ADDRESS", Summary: "check a password (on stdin or at the prompt): exit 0 when it logs in, 77 when not", Do: userCheck},
	}}

func userAdd(c *cli.Call) cli.Action {
	var quota config.Size
	c.Flags.TextVar(&quota, "quota", config.Size(0), "the quota `SIZE` in bytes: 0 (mail.quota), 512M, 2G")
	msgs := c.Flags.Int64("quota-messages", 0, "quota in messages (0: mail.quota_messages)")
	maildir := c.Flags.String("maildir", "", "the Maildir `DIR` (default: from mail.maildir)")
	disabled := c.Flags.Bool("disabled", false, "create the mailbox disabled")
	noPassword := c.Flags.Bool("no-password", false, "no password: the mailbox receives mail but cannot log in")
	return func(cfg *config.Config) error {
		addr, pw := c.Args[0], ""
		if !*noPassword {
			var err error
			if pw, err = c.ReadPassword("password for "+addr+": ", true); err != nil {
				return cli.Errorf(diag.ExUsage, "%v", err)
			}
		}
		return openDirectory(c, cfg, directory.Options{}, func(d *directory.Directory, cfg *config.Config) error {
			added, err := d.AddMailboxWithPassword(c.Ctx, directory.Mailbox{Address: addr, QuotaBytes: int64(quota), QuotaMessages: *msgs, Enabled: !*disabled, Maildir: *maildir}, pw)
			if err != nil {
				return err
			}
			path, _ := deliver.MaildirOf(cfg, added)
			fmt.Fprintf(c.Stdout, "mailbox %s added (Maildir %s)\n", added.Address, path)
			return nil
		})
	}
}

func userPasswd(c *cli.Call) cli.Action {
	return withPassword(c, "new password for ", true, directory.Options{}, func(d *directory.Directory, pw string) error {
		if err := d.SetPassword(c.Ctx, c.Args[0], pw); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "password of %s changed\n", c.Args[0])
		return nil
	})
}

func userCheck(c *cli.Call) cli.Action {
	// Only reads: nothing created, migrated, chowned or rehashed.
	return withPassword(c, "password for ", false, directory.Options{ReadOnly: true}, func(d *directory.Directory, pw string) error {
		mb, err := d.Authenticate(c.Ctx, c.Args[0], pw)
		if err == nil {
			fmt.Fprintf(c.Stdout, "%s: password accepted\n", mb.Address)
		}
		return err
	})
}

// withPassword reads the password of ADDRESS (prompt + ADDRESS; typed
// twice with confirm) and runs fn on the directory opened with opt.
func withPassword(c *cli.Call, prompt string, confirm bool, opt directory.Options, fn func(d *directory.Directory, pw string) error) cli.Action {
	return func(cfg *config.Config) error {
		pw, err := c.ReadPassword(prompt+c.Args[0]+": ", confirm)
		if err != nil {
			return cli.Errorf(diag.ExUsage, "%v", err)
		}
		return openDirectory(c, cfg, opt, func(d *directory.Directory, _ *config.Config) error { return fn(d, pw) })
	}
}

func userList(c *cli.Call) cli.Action {
	return withDirectory(c, directory.Options{ReadOnly: true}, func(d *directory.Directory, cfg *config.Config) error {
		mbs, err := d.Mailboxes(c.Ctx, strings.Join(c.Args, ""))
		if err != nil {
			return err
		}
		directory.WriteMailboxes(c.Stdout, mbs, func(mb *directory.Mailbox) string {
			path, _ := deliver.MaildirOf(cfg, mb)
			return path
		}, c.AsJSON)
		return nil
	})
}

func userRemove(c *cli.Call) cli.Action {
	deleteMail := c.Flags.Bool("delete-mail", false, "also delete the mailbox's Maildir")
	return withDirectory(c, directory.Options{}, func(d *directory.Directory, cfg *config.Config) error {
		mb, err := d.RemoveMailbox(c.Ctx, c.Args[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "mailbox %s removed from the directory\n", mb.Address)
		return c.FailEach(deliver.RemoveMail(c.Stdout, cfg, []*directory.Mailbox{mb}, *deleteMail))
	})
}

func userQuota(c *cli.Call) cli.Action {
	return func(cfg *config.Config) error {
		q, msgs, err := directory.ParseQuota(c.Args[1], c.Args[2:]...)
		if err != nil {
			return c.Usage("%v", err)
		}
		return openDirectory(c, cfg, directory.Options{}, func(d *directory.Directory, _ *config.Config) error {
			if err := d.SetQuota(c.Ctx, c.Args[0], int64(q), msgs); err != nil {
				return err
			}
			fmt.Fprintf(c.Stdout, "quota of %s: %s bytes, %d messages (0: default)\n", c.Args[0], q, msgs)
			return nil
		})
	}
}

// userEnable is enable and disable.
func userEnable(c *cli.Call) cli.Action {
	return withDirectory(c, directory.Options{}, func(d *directory.Directory, _ *config.Config) error {
		if err := d.SetEnabled(c.Ctx, c.Args[0], c.Cmd.Name == "enable"); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "mailbox %s %sd\n", c.Args[0], c.Cmd.Name)
		return nil
	})
}
