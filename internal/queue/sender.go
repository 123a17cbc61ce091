package queue

import (
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/envaddr"
)

// checkSender refuses a reverse-path the queue could not later use as the
// recipient of a DSN (RFC 3464). It asks envaddr, the parser that the SMTP
// server accepts MAIL FROM with, so that a sender is judged once, the same
// way, at every door (SMTP, submission, sendmail, pickup): what the SMTP
// server took, the queue takes, and nothing the queue holds has a sender
// its bounce could not reach.
func checkSender(from string) *diag.Error {
	if _, err := envaddr.ParseReversePath(from); err != nil {
		ae := err.(*envaddr.Error)
		e := diag.New("parse", "use as the sender", envaddr.Clip(from), err)
		e.Component, e.Class, e.Exit = Component, diag.Permanent, diag.ExDataErr
		e.SMTPCode, e.Enhanced, e.Public = ae.Code, [3]int{5, 1, 7}, ae.Message
		e.Hint = "give a sender of the form local@domain whose local part needs no quotes (sendmail -f, MAIL FROM)"
		return e
	}
	return nil
}

// checkRecipients refuses a recipient envaddr refuses (a control character,
// a local part that needs quotes): the SMTP server refuses it at RCPT and
// sendmail before it hands over, and the queue, which every door leads to
// (a pickup file or socket client that is not ebb sendmail, a Sieve
// redirect, fetched mail), takes no address those would not, so none
// reaches a Delivered-To field or an RCPT command of the relay.
func checkRecipients(rcpts []string) *diag.Error {
	for _, r := range rcpts {
		if _, err := envaddr.Parse(r); err != nil {
			ae := err.(*envaddr.Error)
			e := diag.New("parse", "use as a recipient", envaddr.Clip(r), err)
			e.Component, e.Class, e.Exit = Component, diag.Permanent, diag.ExDataErr
			e.SMTPCode, e.Enhanced, e.Public = ae.Code, ae.Enhanced, ae.Message
			e.Hint = "give recipients of the form local@domain whose local part needs no quotes"
			return e
		}
	}
	return nil
}
