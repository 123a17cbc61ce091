package deliver

import (
	"io"
	"os"
	"path/filepath"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/maildir"
	"github.com/ebbmail/ebb/internal/resolve"
	"github.com/ebbmail/ebb/internal/safeio"
)

// The helpers here give ebb route (a dry run) the agent's own decisions,
// so that what route predicts is what the delivery does: the same Maildir,
// setting and refusal for a mailbox, the same quota error, the same header
// text above the message. None of them writes anything.

// MailboxMaildir is the top Maildir a delivery to mb writes to, the setting
// that chose it (for errors), and the error that keeps mb from taking mail
// (a disabled mailbox, a local part that cannot name a directory), exactly
// as the agent's targets find them.
func MailboxMaildir(cfg *config.Config, mb *resolve.Mailbox, component string) (string, *diag.Setting, *diag.Error) {
	t, e := targetFor(cfg, mb, component)
	return t.maildir, t.setting, e
}

// targetFor is one mailbox's target: its Maildir, the setting that chose
// it, or the permanent error that keeps mb from taking mail.
func targetFor(cfg *config.Config, mb *resolve.Mailbox, component string) (target, *diag.Error) {
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
// would meet by its quota (the directory's: the mailbox's own, else
// mail.quota, which maildirsize's definition line is made to follow;
// temporary or permanent by mail.over_quota), or nil. It is
// maildir.EnforceQuota's decision (maildir.PlanQuota) and never writes
// maildirsize.
func QuotaProblem(cfg *config.Config, component string, mb *resolve.Mailbox, top string, setting *diag.Setting, size int64) *diag.Error {
	a := &Agent{Cfg: cfg, Component: component}
	t := target{mb: mb, maildir: top, setting: setting}
	if _, _, err := maildir.PlanQuota(top, quotaOf(cfg, mb), true, size); err != nil {
		return a.quotaErr(t, err)
	}
	return nil
}

// View writes to w the copy the agent stages for the spool file at path
// (as DeliverFile reads it: forged Authentication-Results of ebb's
// authserv-id left out, forged verdict fields renamed, LF line ends, an mbox "From " line dropped, env's
// prefix in front) and returns its size and where the message starts in
// it: what a filter reads, and what a store counts against the quota.
func (a *Agent) View(w io.Writer, path string, env Envelope) (size, offset int64, err error) {
	f, err := safeio.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	lf := newLFReader(f)
	defer lf.release()
	br := bufpool.Reader(lf)
	defer bufpool.PutReader(br)
	prefix, body := a.head(br, env)
	n, err := w.Write(prefix)
	if err != nil {
		return int64(n), int64(len(prefix)), err
	}
	m, err := io.Copy(w, body)
	return int64(n) + m, int64(len(prefix)), err
}

// StageView stages in dir the copy View writes for the spool file at
// path (StageFile, a name made from pattern as os.CreateTemp makes it),
// for a filter's dry run to read, and returns the file's path, its size
// and where the message starts in it. The caller removes the file.
func (a *Agent) StageView(dir, pattern, path string, env Envelope) (file string, size, offset int64, err error) {
	file, size, err = StageFile(dir, pattern, func(w io.Writer) (int64, error) {
		n, off, err := a.View(w, path, env)
		offset = off
		return n, err
	})
	return file, size, offset, err
}

// StageFile writes a file of ebb's own in dir (server.data_dir: never a
// shared directory such as /tmp) with write, streamed (memory stays flat
// for any size), named from pattern as os.CreateTemp names it, and returns
// its path and the size write reports. On any failure, a close's
// included, nothing is left; otherwise the caller removes the file.
func StageFile(dir, pattern string, write func(io.Writer) (int64, error)) (string, int64, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", 0, err
	}
	n, err := write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", 0, err
	}
	return f.Name(), n, nil
}
