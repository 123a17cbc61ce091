package deliver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/maildir"
	"github.com/ebbmail/ebb/internal/resolve"
)

// Refusal is the permanent failure that delivering to res would meet, or
// nil: a disabled mailbox, or a mailbox whose local part can never name a
// Maildir under mail.maildir. It is the check targets makes before each
// delivery, with the same error, so that the SMTP server can ask it at RCPT
// and refuse (5xx) what would otherwise be accepted and bounced to a sender
// who is usually forged (RFC 5321 §6.2 / RFC 3834: no backscatter).
//
// Every mailbox an address reaches must take the message: delivery fails
// the recipient permanently when one of them refuses it.
//
// With mail.over_quota = "permanent", a mailbox already full is refused
// too (552 5.2.2): the delivery would bounce whatever came.
func Refusal(cfg *config.Config, res *resolve.Resolution) *diag.Error {
	for _, mb := range res.Mailboxes {
		md, e := mailboxProblem(cfg, mb, "ebb serve")
		if e != nil {
			return e
		}
		if cfg.Mail.OverQuota == "permanent" {
			err := maildir.EnforceQuota(filepath.Clean(md), quotaOf(cfg, mb), 1)
			var qe *maildir.QuotaError
			if errors.As(err, &qe) {
				a := &Agent{Cfg: cfg, Component: "ebb serve"}
				return a.quotaErr(target{mb: mb, maildir: filepath.Clean(md)}, err)
			}
		}
	}
	return nil
}

// quotaOf is the Maildir++ quota of mb: its own, else mail.quota and
// mail.quota_messages.
func quotaOf(cfg *config.Config, mb *resolve.Mailbox) maildir.Quota {
	q := maildir.Quota{Bytes: int64(cfg.Mail.Quota), Messages: cfg.Mail.QuotaMessages}
	if mb.QuotaBytes > 0 {
		q.Bytes = mb.QuotaBytes
	}
	if mb.QuotaMessages > 0 {
		q.Messages = mb.QuotaMessages
	}
	return q
}

// mailboxProblem returns the Maildir of mb (from the directory, or from
// mail.maildir), or the permanent error that keeps mb from taking mail.
func mailboxProblem(cfg *config.Config, mb *resolve.Mailbox, component string) (maildir string, e *diag.Error) {
	newErr := func(err error) *diag.Error {
		e := diag.New("lookup", "deliver to", mb.Address, err)
		e.Component = component
		e.Class, e.Exit = diag.Permanent, diag.ExNoUser
		return e
	}
	if mb.Maildir != "" {
		maildir = mb.Maildir
	} else {
		p, err := MaildirFor(cfg, mb.Address)
		if err != nil {
			e := newErr(err)
			e.SMTPCode, e.Enhanced, e.Public = 550, [3]int{5, 1, 3}, "Bad mailbox address"
			e.Setting = cfg.Setting("mail.maildir")
			e.Hint = "rename the mailbox (its local part cannot be a directory name), or give it a maildir of its own in the directory"
			return "", e
		}
		maildir = p
	}
	if !mb.Enabled {
		e := newErr(fmt.Errorf("the mailbox is disabled"))
		e.SMTPCode, e.Enhanced, e.Public = 550, [3]int{5, 2, 1}, "Mailbox disabled"
		e.Hint = "enable the mailbox in the directory"
		return maildir, e
	}
	return maildir, nil
}

// LoopRefusal is the mail loop that delivering the message at path to
// recipient (reaching res) would find (RFC 5321 §6.3: it already carries
// one of our own Delivered-To addresses), or nil: the delivery's own loop
// check, run at the end of DATA so that the looping message is refused
// (554 5.4.6) instead of bounced. It reads only the header section.
func LoopRefusal(path, recipient string, res *resolve.Resolution) *diag.Error {
	f, err := os.Open(path)
	if err != nil {
		return nil // the delivery will say why; this check only refuses
	}
	defer f.Close()
	a := &Agent{Component: "ebb serve"}
	var ts []target
	for _, mb := range res.Mailboxes {
		ts = append(ts, target{mb: mb})
	}
	return a.loop(Envelope{Recipient: recipient}, ts, readHeaderView(f).deliveredTos)
}
