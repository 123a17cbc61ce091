package deliver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/maildir"
)

func (a *Agent) newErr(op, doing, path string, err error) *diag.Error {
	e := diag.New(op, doing, path, err)
	e.Component = a.component()
	return e
}

// pathErr is the boundary error for a filesystem failure: temporary (our
// own trouble, principle 3), with who/found/setting/fix filled by diag.
func (a *Agent) pathErr(op, doing, path string, err error, setting *diag.Setting) *diag.Error {
	e := diag.PathError(a.component(), op, doing, path, err, setting)
	wholeMaildir(e, setting)
	return e
}

// wholeMaildir widens a fix that gives one directory of a Maildir to the
// mail user into a chown -R of the Maildir when more of it belongs to
// someone else (a Maildir copied in as root): one command, not one round
// of delivery per directory.
func wholeMaildir(e *diag.Error, setting *diag.Setting) {
	if e.Fix == nil || len(e.Fix.Steps) != 1 || !strings.HasPrefix(e.Fix.Steps[0].Run, "chown ") || e.Found == nil || setting == nil || setting.User == "" {
		return
	}
	p := e.Found.Path
	top := p
	switch filepath.Base(p) {
	case "tmp", "new", "cur":
		top = filepath.Dir(p)
	}
	if _, err := os.Stat(filepath.Join(top, "cur")); err != nil {
		return // not a Maildir
	}
	who := setting.MailUser()
	others := 0
	for _, d := range []string{top, filepath.Join(top, "tmp"), filepath.Join(top, "new"), filepath.Join(top, "cur")} {
		if f := diag.Describe(d); f.Path == d && f.UID != who.UID {
			others++
		}
	}
	if others > 1 {
		check := e.Fix.Check
		e.SetFix(diag.ChownTree(top, who, setting).AndCheck(check))
	}
}

func (a *Agent) readErr(source string, err error) *diag.Error {
	e := a.newErr("read", "read the message from", source, err)
	e.Class = diag.Temporary
	e.Hint = "the program that called ebb stopped sending the message; it should retry"
	return e
}

// quotaWords is a Maildir++ limit for people: "1.0 MiB", "1.0 MiB or 500
// messages", "500 messages".
func quotaWords(q maildir.Quota) string {
	var parts []string
	if q.Bytes > 0 {
		parts = append(parts, diag.HumanBytes(uint64(q.Bytes)))
	}
	if q.Messages > 0 {
		parts = append(parts, diag.Count(int(q.Messages), "message"))
	}
	return strings.Join(parts, " or ")
}

func (a *Agent) quotaErr(t target, err error) *diag.Error {
	var qe *maildir.QuotaError
	if !errors.As(err, &qe) {
		return a.pathErr("quota", "read the quota of", t.maildir+"/maildirsize", err, t.setting)
	}
	e := a.newErr("quota", "deliver to", t.maildir, err)
	e.Errno = "EDQUOT"
	e.Who = diag.Self()
	e.Setting = a.Cfg.Setting("mail.over_quota")
	// The directory decides the limit (maildir.EnforceQuota): raise it
	// there, or free space.
	e.SetFix(diag.Because(fmt.Sprintf("%s holds %s in %s; its limit is %s", t.mb.Address, diag.HumanBytes(uint64(qe.Used.Bytes)),
		diag.Count(int(qe.Used.Messages), "message"), quotaWords(qe.Quota)),
		diag.Say(fmt.Sprintf("free space in the mailbox, or raise its quota (ebb user quota %s SIZE [MESSAGES]; mail.quota for mailboxes without one of their own)", t.mb.Address))))
	if qe.TooBig() {
		e.SetFix(tooBigFix(t, qe, ", or leave it to bounce when queue.lifetime ends"))
	}
	if a.Cfg.Mail.OverQuota == "permanent" {
		e.Class, e.Exit = diag.Permanent, diag.ExNoPerm
		e.SMTPCode, e.Enhanced, e.Public = 552, [3]int{5, 2, 2}, "Mailbox full"
	} else {
		e.Class = diag.Temporary
		e.SMTPCode, e.Enhanced, e.Public = 452, [3]int{4, 2, 2}, "Mailbox full, try again later"
	}
	return e
}

// tooBigFix is the fix for a message larger than the whole quota of t's
// mailbox: freeing space cannot make room for it, only a larger quota
// lets it in. more ends the advice (what else may be done with it).
func tooBigFix(t target, qe *maildir.QuotaError, more string) *diag.Fix {
	return diag.Because(fmt.Sprintf("the message (%s) is larger than the whole quota of %s (%s): freeing space in the mailbox cannot make room for it",
		diag.HumanBytes(uint64(qe.Add)), t.mb.Address, quotaWords(qe.Quota)),
		diag.Say(fmt.Sprintf("raise its quota above the message's size (ebb user quota %s SIZE [MESSAGES]; mail.quota for mailboxes without one of their own)%s", t.mb.Address, more)))
}

// pathOf returns the path inside err (an *os.PathError or *os.LinkError)
// when there is one: it names the directory that refused.
func pathOf(err error, fallback string) string {
	var pe *os.PathError
	if errors.As(err, &pe) && pe.Path != "" {
		return pe.Path
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return filepath.Dir(le.New)
	}
	return fallback
}
