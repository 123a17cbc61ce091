package deliver

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/maildir"
)

// The helpers here give ebb route (a dry run) the agent's own decisions,
// so that what route predicts is what the delivery does: the same Maildir,
// setting and refusal for a mailbox, the same quota error, the same header
// text above the message. None of them writes anything.

// MailboxMaildir is the top Maildir a delivery to mb writes to, the setting
// that chose it (for errors), and the error that keeps mb from taking mail
// (a disabled mailbox, a local part that cannot name a directory), exactly
// as the agent's targets find them.
func MailboxMaildir(cfg *config.Config, mb *directory.Mailbox, component string) (string, *diag.Setting, *diag.Error) {
	t, e := targetFor(cfg, mb, component)
	return t.maildir, t.setting, e
}

// targetFor is one mailbox's target: its Maildir, the setting that chose
// it, or the permanent error that keeps mb from taking mail.
func targetFor(cfg *config.Config, mb *directory.Mailbox, component string) (target, *diag.Error) {
	t := target{mb: mb}
	p, e := mailboxProblem(cfg, mb, component)
	if p != "" {
		t.maildir = filepath.Clean(p)
		if mb.Maildir != "" {
			t.setting = &diag.Setting{Key: "directory maildir of " + mb.Address, Value: mb.Maildir}
		} else {
			t.setting = settingFor(cfg, t.maildir)
		}
	}
	return t, e
}

// QuotaProblem is the error a store of size bytes into mb's Maildir top
// would meet by its quota (the maildirsize limit, else the mailbox's, else
// mail.quota; temporary or permanent by mail.over_quota), or nil. Unlike
// the delivery's check it never writes maildirsize: the usage is counted
// from the folders (what the delivery counts before it refuses).
func QuotaProblem(cfg *config.Config, component string, mb *directory.Mailbox, top string, setting *diag.Setting, size int64) *diag.Error {
	a := &Agent{Cfg: cfg, Component: component}
	t := target{mb: mb, maildir: top, setting: setting}
	q := quotaOf(cfg, mb)
	f, err := os.Open(filepath.Join(top, "maildirsize"))
	switch {
	case err == nil:
		sc := bufio.NewScanner(f)
		if sc.Scan() {
			if q, err = maildir.ParseQuota(sc.Text()); err != nil {
				f.Close()
				return a.quotaErr(t, err)
			}
		}
		f.Close()
	case !errors.Is(err, os.ErrNotExist):
		return a.quotaErr(t, err)
	}
	if q.IsZero() {
		return nil
	}
	u, err := maildir.Recalculate(top)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // a Maildir still to be made (mail.create) is empty
		}
		return a.quotaErr(t, err)
	}
	if (q.Bytes > 0 && u.Bytes+size > q.Bytes) || (q.Messages > 0 && u.Messages+1 > q.Messages) {
		return a.quotaErr(t, &maildir.QuotaError{Dir: top, Quota: q, Used: u, Add: size})
	}
	return nil
}

// Prefix is the header text the agent puts above the message for env
// (Return-Path, Delivered-To, -A headers, env.Prefix), with LF line ends
// as in the stored copy: what a filter reads first.
func (a *Agent) Prefix(env Envelope) []byte { return a.prefix(env) }
