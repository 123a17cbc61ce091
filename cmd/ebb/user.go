package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
)

// runUser is `ebb user add|passwd|list|remove|quota|enable|disable|check`.
func runUser(e *env) int {
	usage := "ebb user add ADDRESS [--quota SIZE] [--quota-messages N] [--maildir DIR] [--disabled] [--no-password]\n" +
		"       ebb user passwd ADDRESS | list [DOMAIN] [--json] | remove ADDRESS [--delete-mail]\n" +
		"       ebb user quota ADDRESS SIZE [MESSAGES] | enable ADDRESS | disable ADDRESS | check ADDRESS\n" +
		"  Passwords are read from a prompt, or from the first line of stdin; never from the command line."
	if len(e.args) == 0 {
		fmt.Fprintln(e.stderr, "usage: "+usage)
		return diag.ExUsage
	}
	sub, args := e.args[0], e.args[1:]
	c := newAdminCmd(e, "ebb user "+sub)
	switch sub {
	case "add":
		var quota config.Size
		c.fs.TextVar(&quota, "quota", config.Size(0), "quota in bytes: 0 (mail.quota), 512M, 2G")
		msgs := c.fs.Int64("quota-messages", 0, "quota in messages (0: mail.quota_messages)")
		maildir := c.fs.String("maildir", "", "the Maildir (default: from mail.maildir)")
		disabled := c.fs.Bool("disabled", false, "create the mailbox disabled")
		noPassword := c.fs.Bool("no-password", false, "no password: the mailbox receives mail but cannot log in")
		if !c.parse(args, 1, 1, "ebb user add ADDRESS [--quota SIZE] [--quota-messages N] [--maildir DIR] [--disabled] [--no-password] (password on stdin or at the prompt)") {
			return diag.ExUsage
		}
		hash := ""
		if !*noPassword {
			pw, err := readPassword(e, "password for "+c.args[0]+": ", true)
			if err != nil {
				fmt.Fprintf(e.stderr, "%s: %v\n", c.name, err)
				return diag.ExUsage
			}
			if code := c.open(); code != 0 {
				return code
			}
			if hash, err = c.dir.HashPassword(pw); err != nil {
				c.close()
				return c.fail(err)
			}
		} else if code := c.open(); code != 0 {
			return code
		}
		defer c.close()
		mb := directory.Mailbox{Address: c.args[0], PasswordHash: hash, QuotaBytes: int64(quota),
			QuotaMessages: *msgs, Enabled: !*disabled, Maildir: *maildir}
		if err := c.dir.AddMailbox(e.ctx, mb); err != nil {
			return c.fail(err)
		}
		added, err := c.dir.Mailbox(e.ctx, c.args[0])
		if err != nil {
			return c.fail(err)
		}
		path, _ := mailboxMaildir(c, added)
		fmt.Fprintf(e.stdout, "mailbox %s added (Maildir %s)\n", added.Address, path)
		return 0
	case "passwd":
		if !c.parse(args, 1, 1, "ebb user passwd ADDRESS (password on stdin or at the prompt)") {
			return diag.ExUsage
		}
		pw, err := readPassword(e, "new password for "+c.args[0]+": ", true)
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: %v\n", c.name, err)
			return diag.ExUsage
		}
		if code := c.open(); code != 0 {
			return code
		}
		defer c.close()
		if err := c.dir.SetPassword(e.ctx, c.args[0], pw); err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(e.stdout, "password of %s changed\n", c.args[0])
		return 0
	case "check":
		if !c.parse(args, 1, 1, "ebb user check ADDRESS (password on stdin or at the prompt; exit 0 when it logs in, 77 when not)") {
			return diag.ExUsage
		}
		pw, err := readPassword(e, "password for "+c.args[0]+": ", false)
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: %v\n", c.name, err)
			return diag.ExUsage
		}
		if code := c.open(); code != 0 {
			return code
		}
		defer c.close()
		mb, err := c.dir.Authenticate(e.ctx, c.args[0], pw)
		if err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(e.stdout, "%s: password accepted\n", mb.Address)
		return 0
	case "list":
		asJSON := c.fs.Bool("json", false, "print JSON")
		if !c.parse(args, 0, 1, "ebb user list [DOMAIN] [--json]") {
			return diag.ExUsage
		}
		if code := c.open(); code != 0 {
			return code
		}
		defer c.close()
		domain := ""
		if len(c.args) == 1 {
			domain = c.args[0]
		}
		mbs, err := c.dir.Mailboxes(e.ctx, domain)
		if err != nil {
			return c.fail(err)
		}
		type row struct {
			Address       string `json:"address"`
			Enabled       bool   `json:"enabled"`
			QuotaBytes    int64  `json:"quota_bytes"`
			QuotaMessages int64  `json:"quota_messages"`
			Maildir       string `json:"maildir"`
			MaildirSet    bool   `json:"maildir_set"`
			Scheme        string `json:"password_scheme"`
		}
		rows := []row{}
		for _, mb := range mbs {
			path, _ := mailboxMaildir(c, mb)
			rows = append(rows, row{mb.Address, mb.Enabled, mb.QuotaBytes, mb.QuotaMessages, path, mb.Maildir != "", passwordScheme(mb.PasswordHash)})
		}
		if *asJSON {
			writeJSON(e.stdout, rows)
			return 0
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tSTATE\tQUOTA\tMESSAGES\tPASSWORD\tMAILDIR")
		for _, r := range rows {
			state := "enabled"
			if !r.Enabled {
				state = "disabled"
			}
			q := "default"
			if r.QuotaBytes > 0 {
				q = config.Size(r.QuotaBytes).String()
			}
			m := "default"
			if r.QuotaMessages > 0 {
				m = strconv.FormatInt(r.QuotaMessages, 10)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Address, state, q, m, r.Scheme, r.Maildir)
		}
		tw.Flush()
		return 0
	case "remove":
		deleteMail := c.fs.Bool("delete-mail", false, "also delete the mailbox's Maildir")
		if !c.parse(args, 1, 1, "ebb user remove ADDRESS [--delete-mail]") {
			return diag.ExUsage
		}
		if code := c.open(); code != 0 {
			return code
		}
		defer c.close()
		mb, err := c.dir.RemoveMailbox(e.ctx, c.args[0])
		if err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(e.stdout, "mailbox %s removed from the directory\n", mb.Address)
		return removeMail(c, []*directory.Mailbox{mb}, *deleteMail)
	case "quota":
		if !c.parse(args, 2, 3, "ebb user quota ADDRESS SIZE [MESSAGES]   (0: the mail.quota default)") {
			return diag.ExUsage
		}
		var q config.Size
		if err := q.UnmarshalText([]byte(c.args[1])); err != nil {
			fmt.Fprintf(e.stderr, "%s: %v\n", c.name, err)
			return diag.ExUsage
		}
		var msgs int64
		if len(c.args) == 3 {
			n, err := strconv.ParseInt(c.args[2], 10, 64)
			if err != nil || n < 0 {
				fmt.Fprintf(e.stderr, "%s: MESSAGES %q is not a count\n", c.name, c.args[2])
				return diag.ExUsage
			}
			msgs = n
		}
		if code := c.open(); code != 0 {
			return code
		}
		defer c.close()
		if err := c.dir.SetQuota(e.ctx, c.args[0], int64(q), msgs); err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(e.stdout, "quota of %s: %s bytes, %d messages (0: default)\n", c.args[0], q, msgs)
		return 0
	case "enable", "disable":
		if !c.parse(args, 1, 1, "ebb user "+sub+" ADDRESS") {
			return diag.ExUsage
		}
		if code := c.open(); code != 0 {
			return code
		}
		defer c.close()
		if err := c.dir.SetEnabled(e.ctx, c.args[0], sub == "enable"); err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(e.stdout, "mailbox %s %sd\n", c.args[0], sub)
		return 0
	}
	fmt.Fprintf(e.stderr, "ebb user: unknown subcommand %q\nusage: %s\n", sub, usage)
	return diag.ExUsage
}

// mailboxMaildir is where a mailbox's mail is: its own Maildir, or
// mail.maildir expanded the way delivery expands it.
func mailboxMaildir(c *adminCmd, mb *directory.Mailbox) (string, error) {
	if mb.Maildir != "" {
		return mb.Maildir, nil
	}
	return deliver.MaildirFor(c.conf, mb.Address)
}

func passwordScheme(h string) string {
	if h == "" {
		return "none"
	}
	if i := len(h); i > 0 && h[0] == '{' {
		for j := 1; j < len(h); j++ {
			if h[j] == '}' {
				return h[1:j]
			}
		}
	}
	return "crypt"
}
