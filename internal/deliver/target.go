package deliver

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/envaddr"
	"github.com/ebbmail/ebb/internal/resolve"
)

// target is one mailbox to deliver to.
type target struct {
	mb      *resolve.Mailbox
	maildir string        // the top Maildir
	setting *diag.Setting // what chose maildir, for errors
	// byDirectory: the directory decides the quota (the mailbox's own,
	// else mail.quota), and maildirsize follows it (maildir.EnforceQuota);
	// a Maildir given by hand keeps its file's limit.
	byDirectory bool
}

// MaildirFor expands mail.maildir for an address: {root}, {domain} (lower
// case), {local} (as given), {address}. It refuses local parts and domains
// that would escape the template's directory.
func MaildirFor(cfg *config.Config, address string) (string, error) {
	local, domain, ok := envaddr.Split(address)
	if !ok || local == "" {
		return "", fmt.Errorf("address %q is not local@domain", address)
	}
	domain = strings.ToLower(domain)
	for _, part := range []string{local, domain} {
		if part == "." || part == ".." || strings.ContainsAny(part, "/\x00") || strings.HasPrefix(part, ".") {
			return "", fmt.Errorf("address %q cannot name a directory", address)
		}
	}
	return filepath.Clean(expandMaildir(cfg.Mail.Maildir, cfg.Mail.Root, domain, local)), nil
}

// expandMaildir replaces {root}, {domain}, {local} and {address} in
// mail.maildir, as strings.Replacer would, left to right, replacements
// not read again, but without building a Replacer per delivery (its trie
// was an eighth of what ebb serve allocated per message).
func expandMaildir(tmpl, root, domain, local string) string {
	var b strings.Builder
	b.Grow(len(tmpl) + len(root) + 2*(len(domain)+len(local)))
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		b.WriteString(tmpl[:i])
		tmpl = tmpl[i:]
		switch {
		case strings.HasPrefix(tmpl, "{root}"):
			b.WriteString(root)
			tmpl = tmpl[len("{root}"):]
		case strings.HasPrefix(tmpl, "{domain}"):
			b.WriteString(domain)
			tmpl = tmpl[len("{domain}"):]
		case strings.HasPrefix(tmpl, "{local}"):
			b.WriteString(local)
			tmpl = tmpl[len("{local}"):]
		case strings.HasPrefix(tmpl, "{address}"):
			b.WriteString(local + "@" + domain)
			tmpl = tmpl[len("{address}"):]
		default:
			b.WriteByte('{')
			tmpl = tmpl[1:]
		}
	}
}

// MaildirOf is where mb's mail is: its own Maildir, or mail.maildir
// expanded for its address as delivery expands it.
func MaildirOf(cfg *config.Config, mb *resolve.Mailbox) (string, error) {
	if mb.Maildir != "" {
		return mb.Maildir, nil
	}
	return MaildirFor(cfg, mb.Address)
}

// RemoveMaildir deletes the Maildir of a mailbox removed from the
// directory (ebb user remove --delete-mail) and says which it was. The
// error is a *diag.Error.
func RemoveMaildir(cfg *config.Config, mb *resolve.Mailbox) (string, error) {
	path, err := MaildirOf(cfg, mb)
	if err != nil {
		e := diag.New("remove", "remove the Maildir of", mb.Address, err)
		e.Class, e.Exit = diag.Permanent, diag.ExDataErr
		return "", e
	}
	if err := os.RemoveAll(path); err != nil {
		return path, diag.PathError("", "remove", "remove the Maildir", path, diag.UnwrapPath(err), nil)
	}
	return path, nil
}

// RemoveMail is what becomes of the Maildirs of mailboxes removed from the
// directory (ebb user remove, ebb domain remove): deleted with del
// (--delete-mail), else kept; each is said on w. It goes on past a
// failure and returns every one (each a *diag.Error).
func RemoveMail(w io.Writer, cfg *config.Config, mbs []*resolve.Mailbox, del bool) []error {
	var failed []error
	for _, mb := range mbs {
		path, err := MaildirOf(cfg, mb)
		if err == nil && del {
			path, err = RemoveMaildir(cfg, mb)
		}
		switch {
		case err != nil:
			failed = append(failed, err)
		case del:
			fmt.Fprintf(w, "mail of %s deleted: %s\n", mb.Address, path)
		default:
			fmt.Fprintf(w, "mail of %s kept in %s\n", mb.Address, path)
		}
	}
	return failed
}

// settingFor says which setting chose a templated path: mail.root when the
// template starts there and the path lies under it (the usual story: a fix
// that moves the Maildirs sets mail.root), else mail.maildir.
func settingFor(cfg *config.Config, path string) *diag.Setting {
	if strings.HasPrefix(cfg.Mail.Maildir, "{root}") && strings.HasPrefix(path, filepath.Clean(cfg.Mail.Root)+"/") {
		return cfg.Setting("mail.root")
	}
	return cfg.Setting("mail.maildir")
}

// targets finds the mailboxes for env.
func (a *Agent) targets(ctx context.Context, env Envelope, rep *Report) ([]target, *diag.Error) {
	if env.Maildir != "" {
		mb := &resolve.Mailbox{Address: env.Recipient, Maildir: env.Maildir, Enabled: true}
		return []target{{mb: mb, maildir: filepath.Clean(env.Maildir),
			setting: &diag.Setting{Key: "--maildir", Value: env.Maildir}}}, nil
	}
	if env.Recipient == "" {
		e := a.newErr("resolve", "deliver", "", fmt.Errorf("no recipient: give a Maildir or an address"))
		e.Class, e.Exit = diag.Permanent, diag.ExUsage
		return nil, e
	}
	var mbs []*resolve.Mailbox
	if a.Resolver == nil {
		mbs = []*resolve.Mailbox{{Address: env.Recipient, Enabled: true}}
	} else {
		res, err := a.Resolver.Resolve(ctx, env.Recipient)
		if err != nil {
			if d, ok := diag.As(err); ok {
				if d.Component == "" {
					d.Component = a.component()
				}
				return nil, d
			}
			e := a.newErr("lookup", "look up", env.Recipient, err)
			e.Class = diag.Temporary
			e.Setting = a.Cfg.Setting("directory.dsn")
			e.Hint = e.OrRunDoctor("check that the directory database is reachable")
			return nil, e
		}
		if res.Unknown() {
			e := a.newErr("lookup", "deliver to", env.Recipient, fmt.Errorf("no such mailbox"))
			e.Class, e.Exit = diag.Permanent, diag.ExNoUser
			e.SMTPCode, e.Enhanced, e.Public = 550, [3]int{5, 1, 1}, "No such mailbox"
			e.Hint = "add the mailbox or an alias to the directory"
			return nil, e
		}
		rep.Forwards = append(rep.Forwards, res.Forwards...)
		mbs = res.Mailboxes
	}
	done := map[string]bool{}
	for _, d := range env.Done {
		done[strings.ToLower(d)] = true
	}
	var ts []target
	for _, mb := range mbs {
		if done[strings.ToLower(mb.Address)] {
			continue
		}
		t, e := targetFor(a.Cfg, mb, a.component())
		t.byDirectory = a.Resolver != nil
		if e != nil {
			rep.Outcomes = append(rep.Outcomes, Outcome{Mailbox: mb.Address, Maildir: t.maildir, Err: e})
			continue
		}
		ts = append(ts, t)
	}
	return ts, nil
}
