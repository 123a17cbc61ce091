package daemon

import (
	"context"
	"strings"

	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// A checker judges a received message after its data is durable in the
// spool and before the SMTP reply (design.md: "end of DATA: spool file +
// envelope fsynced → checks → scanners → 250 / 4xx / 5xx"). It reads
// in.Msg.File (the data alone while checks run), never a copy in memory. It returns header lines to add
// in front of the stored message (CRLF line ends), or an error that
// refuses it: a *diag.Error with SMTPCode/Enhanced/Public decides the
// reply; any other error is a 451.
//
// Components (message authentication, scanners) do not know about this
// interface: each has a small adapter in this package, in its own file.
type checker interface {
	name() string
	check(ctx context.Context, in *checkInput) (header string, err error)
}

// checkInput is what a checker knows of the message.
type checkInput struct {
	Msg  *queue.Message // File, Envelope (From, Recipients, ClientAddr, ClientHelo, AuthUser, Proto), Size
	Kind smtpd.Kind     // which listener received it: inbound (25), submission, submissions
	TLS  bool
	// Header collects what earlier checkers added, so that a later one
	// (a scanner) can pass on their verdicts (e.g. DMARC results to spamd).
	Header strings.Builder
	// Notes are what a checker let through that is not in its header (a
	// fail-open, principle 7): each a journal record {check, checker,
	// detail} of the message, told by ebb explain with the verdicts.
	Notes []checkNote
}

// checkNote is one of checkInput.Notes.
type checkNote struct{ Checker, Detail string }

// note adds a record of what checker let through (the caller logs and
// counts it).
func (in *checkInput) note(checker, detail string) {
	in.Notes = append(in.Notes, checkNote{checker, detail})
}

// runChecks runs cs in order; the first refusal ends the run.
func runChecks(ctx context.Context, cs []checker, in *checkInput) (string, error) {
	h, _, err := walkChecks(ctx, cs, in, nil)
	return h, err
}

// walkChecks is runChecks telling passed (when not nil) of each check that
// passed and the lines and notes it added, and naming the check that
// refused (ebb route shows every step).
func walkChecks(ctx context.Context, cs []checker, in *checkInput, passed func(name, header string, notes []string)) (header, refusedBy string, err error) {
	for _, c := range cs {
		before := len(in.Notes)
		h, err := c.check(ctx, in)
		if err != nil {
			return "", c.name(), err
		}
		in.Header.WriteString(h)
		if passed != nil {
			var notes []string
			for _, n := range in.Notes[before:] {
				notes = append(notes, n.Detail)
			}
			passed(c.name(), h, notes)
		}
	}
	return in.Header.String(), "", nil
}

// checkers is the ordered list of what judges a message after DATA:
// message authentication first (SPF, DKIM, DMARC; its verdict is input to
// the scanners), then the scanners. Each part adds its own in its file.
func (d *daemon) checkers() []checker {
	var cs []checker
	cs = append(cs, d.senderCheckers()...) // checks_sender.go: From:/Sender: of a logged-in user
	cs = append(cs, d.loopCheckers()...)   // checks_loop.go: what the delivery would bounce as a loop
	cs = append(cs, d.authCheckers()...)
	cs = append(cs, d.scanCheckers()...)
	cs = append(cs, d.quotaCheckers()...) // checks_quota.go: what the delivery would bounce for a quota; last, to count every line added
	return cs
}
