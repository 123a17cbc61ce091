package daemon

import (
	"context"
	"fmt"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/policy"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// senderChecker refuses at the end of DATA a message whose From: or
// Sender: names an address the logged-in user may not send as
// (submission.sender_policy, the rule MAIL FROM is checked by): otherwise
// one password lets its holder write as anyone, and the DKIM signer signs
// for every hosted domain named in From:. Mail without a login (port 25,
// submission.trusted_networks, ebb sendmail) is not checked here.
type senderChecker struct {
	senders *policy.Senders
	setting *diag.Setting // submission.sender_policy, where it was set
}

// senders is the rule both MAIL FROM (submissionPolicy) and the message's
// header (senderChecker) are checked by.
func (d *daemon) senders() *policy.Senders {
	return &policy.Senders{Rule: policy.SenderRule(d.cfg.Submission.SenderPolicy), Directory: d.dir}
}

// mayWriteAs is the rule for a Sieve script's vacation :from
// (sievefilter.Filter.MayWriteAs): what mailbox's user may write in From:
// at submission. Trouble asking the directory is the error, which the
// filter's log line and the response's record name (the mailbox's own
// address is used).
func (d *daemon) mayWriteAs(ctx context.Context, mailbox, addr string) (bool, error) {
	r, err := d.senders().MayWriteAs(ctx, mailbox, "From", addr)
	if err != nil {
		return false, fmt.Errorf("the directory did not answer (%w)", err)
	}
	return r == nil, nil
}

func (d *daemon) senderCheckers() []checker {
	if policy.SenderRule(d.cfg.Submission.SenderPolicy) == policy.SenderAny {
		return nil
	}
	return []checker{senderChecker{senders: d.senders(), setting: d.cfg.Setting("submission.sender_policy")}}
}

func (senderChecker) name() string { return "sender" }

func (c senderChecker) check(ctx context.Context, in *checkInput) (string, error) {
	m := in.Msg
	account := m.Envelope.AuthUser
	if in.Kind == smtpd.Inbound || account == "" {
		return "", nil
	}
	// From the fields the queue kept as it stored the message (one
	// reading of the header), or, where it kept none (a message not
	// received just now, such as ebb route's; a header naming too many
	// authors), from the spool file.
	var r *policy.Refusal
	var err error
	if m.AuthorsSeen {
		r, err = c.senders.MayAuthorFields(ctx, account, m.AuthorFields, m.HiddenFrom)
	} else {
		data, oerr := m.OpenData()
		if oerr != nil {
			return "", diag.PathError("ebb serve", "open", "read the header of", m.File, oerr, nil)
		}
		defer data.Close()
		br := bufpool.Reader(data)
		defer bufpool.PutReader(br)
		r, err = c.senders.MayAuthor(ctx, account, br, m.HiddenFrom)
	}
	if err != nil {
		e := diag.New("check", "check the sender of", account, err)
		e.Component, e.Class = "ebb serve", diag.Temporary
		return "", e
	}
	if r == nil {
		return "", nil
	}
	e := diag.New("sender", "accept a message written as another user by", account, nil)
	e.Reason = r.Message
	e.Component, e.Class = "ebb serve", diag.Permanent
	e.SMTPCode, e.Enhanced, e.Public = r.Code, r.Enhanced, r.Message
	e.Setting = c.setting
	e.Hint = "the user must write an address of their own in From: and Sender:; to let " + account +
		" send as another address, make it an alias of the mailbox (ebb alias add ADDRESS " + account +
		`) or set submission.sender_policy = "domain" (any address of the login's domain) or "any" (no check)`
	e.EnsureRef()
	return "", e
}
