package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/maildir"
)

// mailChecks are the checks of local delivery (issue 2): the delivery user,
// mail.root, every existing Maildir, free space, and /tmp.
func mailChecks() []Check {
	return []Check{
		{Name: "server.user", Run: checkServerUser},
		{Name: "mail.root", Run: checkMailRoot},
		{Name: "maildir", Run: checkMaildirs},
		{Name: "mail.space", Run: checkMailSpace},
		{Name: "tmp", Run: checkTmp},
	}
}

func checkServerUser(ctx context.Context, env *Env) []Finding {
	const name = "server.user"
	if u := env.Probe.As; u != nil && u.StandInFor != "" {
		e := diag.New("lookup", "probe as", u.StandInFor, fmt.Errorf("no such user; every probe below ran as %s (uid %d) instead, an unprivileged stand-in, so what %s could not use either shows now", u.Name, u.UID, u.StandInFor))
		e.Setting = env.Cfg.Setting("server.user")
		e.Who = diag.Self()
		e.SetFix(diag.AddUser(u.StandInFor).OrElse(diag.Steps(diag.Say("set server.user to the user ebb serve runs as"))))
		return []Finding{Failed(name, e)}
	}
	if env.Probe.As != nil {
		return []Finding{Passed(name, env.Cfg.Server.User, "probes run as "+env.Probe.Who())}
	}
	self := diag.Self()
	if self.User == env.Cfg.Server.User {
		return []Finding{Passed(name, env.Cfg.Server.User, "running as "+self.String())}
	}
	e := diag.New("probe", "probe as", env.Cfg.Server.User, fmt.Errorf("the probes run as %s instead", self))
	e.Setting = env.Cfg.Setting("server.user")
	e.Who = self
	if self.UID == 0 {
		// Root and no such user: a probe as root proves nothing.
		e.Reason = "no such user; the probes below ran as root, which ignores file modes"
		e.SetFix(diag.AddUser(env.Cfg.Server.User).OrElse(diag.Steps(diag.Say("set server.user to the user ebb serve runs as"))))
		return []Finding{Failed(name, e)}
	}
	e.SetFix(diag.Because("only root can probe as "+env.Cfg.Server.User, diag.CommandAs("root", "ebb", "doctor", "-c", orDefault(env.Cfg.File))))
	return []Finding{Warned(name, e)}
}

func checkMailRoot(ctx context.Context, env *Env) []Finding {
	const name = "mail.root"
	root := env.Cfg.Mail.Root
	st, err := os.Stat(root)
	if err != nil {
		e := diag.PathError("ebb doctor", "stat", "use the mail root", root, err, env.Cfg.Setting("mail.root"))
		if errors.Is(err, os.ErrNotExist) {
			e.SetFix(diag.MakeDir(root, e.Setting.MailUser(), e.Setting))
		}
		return []Finding{Failed(name, e)}
	}
	if !st.IsDir() {
		e := diag.PathError("ebb doctor", "stat", "use the mail root", root, syscall.ENOTDIR, env.Cfg.Setting("mail.root"))
		return []Finding{Failed(name, e)}
	}
	if !env.Cfg.Mail.Create {
		// Nothing is created under mail.root: it only has to be readable.
		return []Finding{Passed(name, root, "exists (mail.create = false: Maildirs are made by hand)")}
	}
	if e := env.Probe.Dir(ctx, root, env.Cfg.Setting("mail.root")); e != nil {
		// New domains' directories are created here at first delivery.
		e.Reason += " (mail.create = true needs to create directories here)"
		return []Finding{Failed(name, e)}
	}
	return []Finding{Passed(name, root, "create, write, fsync, rename, remove as "+env.Probe.Who())}
}

// MaildirGlob turns mail.maildir into a glob matching every Maildir it can
// name: {domain} and {local} become *, {address} *@*.
func MaildirGlob(template, root string) string {
	r := strings.NewReplacer("{root}", globEscape(root), "{domain}", "*", "{local}", "*", "{address}", "*@*")
	return r.Replace(template)
}

func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`)
	return r.Replace(s)
}

func checkMaildirs(ctx context.Context, env *Env) []Finding {
	const name = "maildir"
	setting := env.Cfg.Setting("mail.maildir")
	if strings.Contains(env.Cfg.Mail.Maildir, "{root}") && env.Cfg.IsDefault("mail.maildir") {
		setting = env.Cfg.Setting("mail.root")
	}
	pattern := MaildirGlob(env.Cfg.Mail.Maildir, env.Cfg.Mail.Root)
	dirs, err := filepath.Glob(pattern)
	if err != nil {
		e := diag.New("glob", "expand mail.maildir as", pattern, err)
		e.Setting = env.Cfg.Setting("mail.maildir")
		return []Finding{Failed(name, e)}
	}
	sort.Strings(dirs)
	var out []Finding
	var reqs []ProbeRequest
	var owners []string
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			continue
		}
		if err := maildir.Check(d); err != nil {
			e := diag.PathError("ebb doctor", "open", "deliver to", d, err, setting)
			var me *maildir.MissingError
			if errors.As(err, &me) {
				e.Reason, e.Errno = me.Error(), "ENOENT"
				e.Who = nil // found by looking, not by acting as someone
				e.SetFix(diag.MakeDirMode(filepath.Join(d, me.Missing[0]), "0700", env.Cfg.Setting("mail.root").MailUser(), setting))
			}
			out = append(out, Failed(name, e))
			continue
		}
		for _, s := range maildir.Subdirs {
			reqs = append(reqs, ProbeRequest{Dir: filepath.Join(d, s), Setting: setting})
		}
		owners = append(owners, d)
	}
	if len(dirs) == 0 {
		return []Finding{Passed(name, pattern, "no Maildir yet")}
	}
	res := env.Probe.Dirs(ctx, reqs)
	bad := map[string]bool{}
	failed := map[string][]*diag.Error{} // Maildir → its subdirectories' failures
	var order []string
	for i, e := range res {
		if e != nil {
			d := filepath.Dir(reqs[i].Dir)
			if failed[d] == nil {
				order = append(order, d)
			}
			failed[d] = append(failed[d], e)
			bad[d] = true
		}
	}
	// The blocker outside a Maildir (mail.root, a domain's directory that
	// root made) is told once, with its own fix, for every Maildir behind
	// it: a chown -R of the Maildirs would change nothing there.
	behind := map[string][]string{} // the fix of a blocker outside → its Maildirs
	var blockers []*diag.Error
	for _, d := range order {
		es := failed[d]
		e := es[0]
		if len(es) > 1 {
			var names []string
			for _, o := range es[1:] {
				names = append(names, filepath.Base(o.Path)+"/")
			}
			e.Reason += fmt.Sprintf(" (and %s of this Maildir)", strings.Join(names, ", "))
		}
		if blockedOutside(es, d) {
			fix := e.Fix.String()
			if behind[fix] == nil {
				blockers = append(blockers, e)
			}
			behind[fix] = append(behind[fix], d)
			continue
		}
		if len(es) > 1 && e.Fix != nil && len(e.Fix.Steps) == 1 && strings.HasPrefix(e.Fix.Steps[0].Run, "chown ") {
			// Several of one Maildir's directories made by someone else (a
			// Maildir copied in as root): one chown -R of the Maildir, not
			// one round per directory.
			e.SetFix(diag.ChownTree(d, setting.MailUser(), setting))
		}
		out = append(out, Failed(name, e))
	}
	for _, e := range blockers {
		if n := len(behind[e.Fix.String()]) - 1; n > 0 {
			e.Reason += fmt.Sprintf(" (%s behind %s too)", diag.Count(n, "other Maildir"), e.Found.Path)
		}
		out = append(out, Failed(name, e))
	}
	// Files that Dovecot cannot read are a problem even when ebb can write:
	// warn when a Maildir is not owned by the delivery user.
	if env.Probe.As != nil && env.Probe.As.StandInFor == "" {
		for _, d := range owners {
			var st syscall.Stat_t
			if bad[d] || syscall.Stat(d, &st) != nil || int(st.Uid) == env.Probe.As.UID {
				continue
			}
			e := diag.New("stat", "", d, fmt.Errorf("the Maildir is not owned by %s", env.Probe.As.Name))
			e.Found = diag.Describe(d)
			e.Setting = setting
			// ChownTree refuses a directory the system shares (mail.maildir
			// leading there): it then points the setting elsewhere.
			e.SetFix(diag.ChownTree(d, env.Cfg.Setting("mail.root").MailUser(), setting))
			out = append(out, Warned(name, e))
		}
	}
	// Mail is private: a world-writable or world-readable Maildir lets any
	// local user read or plant messages.
	for _, d := range owners {
		for _, p := range append([]string{d}, filepath.Join(d, "tmp"), filepath.Join(d, "new"), filepath.Join(d, "cur")) {
			f := diag.Describe(p)
			if f.Path != p || f.Mode&0o007 == 0 {
				continue
			}
			e := diag.New("stat", "", p, fmt.Errorf("other users may read or change the mail here (mode %s)", f.ModeString()))
			e.Found = f
			e.Setting = setting
			e.SetFix(diag.Narrow(p, "o-rwx")) // Dovecot creates Maildirs 0700
			out = append(out, Warned(name, e))
		}
	}
	ok := len(owners) - len(bad)
	if ok > 0 {
		out = append(out, Passed(name, pattern, fmt.Sprintf("%d %s: tmp/, new/, cur/ create, write, fsync, rename, remove as %s", ok, diag.Plural(ok, "Maildir"), env.Probe.Who())))
	}
	return out
}

func checkMailSpace(ctx context.Context, env *Env) []Finding {
	const name = "mail.space"
	f := diag.Describe(env.Cfg.Mail.Root)
	if f.Kind == "missing" {
		return nil
	}
	f.AddFree()
	if !f.HasFree {
		return nil
	}
	var out []Finding
	min := uint64(env.Cfg.Doctor.MinFree)
	if f.FreeBytes < min {
		e := diag.New("statfs", "", f.Path, fmt.Errorf("%s free, below doctor.min_free (%s)", diag.HumanBytes(f.FreeBytes), diag.HumanBytes(min)))
		e.Errno = "ENOSPC"
		e.Found = f
		e.Setting = env.Cfg.Setting("doctor.min_free")
		e.SetFix(diag.Steps(diag.Command("df", "-h", f.Path), diag.Say("free space on that filesystem")))
		out = append(out, Warned(name, e))
	}
	if f.FreeInodes < uint64(env.Cfg.Doctor.MinFreeInodes) {
		e := diag.New("statfs", "", f.Path, fmt.Errorf("%d inodes free, below doctor.min_free_inodes (%d)", f.FreeInodes, env.Cfg.Doctor.MinFreeInodes))
		e.Errno = "ENOSPC"
		e.Found = f
		e.Setting = env.Cfg.Setting("doctor.min_free_inodes")
		e.SetFix(diag.Steps(diag.Command("df", "-i", f.Path), diag.Say("free inodes on that filesystem")))
		out = append(out, Warned(name, e))
	}
	if len(out) == 0 {
		out = append(out, Passed(name, f.Path, fmt.Sprintf("%s and %d inodes free", diag.HumanBytes(f.FreeBytes), f.FreeInodes)))
	}
	return out
}

// checkTmp warns about a /tmp that is not 1777: ebb never uses it
// (principle 2), but other programs on the host do (maildrop spills
// messages over 8 KiB there — the story in the brief).
func checkTmp(ctx context.Context, env *Env) []Finding {
	const name = "tmp"
	f := diag.Describe("/tmp")
	if f.Kind == "directory" && f.Mode == 01777 {
		return []Finding{Passed(name, "/tmp", "mode 1777")}
	}
	e := diag.New("stat", "", "/tmp", fmt.Errorf("/tmp is not a directory of mode 1777; ebb does not use it, but other mail programs on this host do (maildrop puts messages over 8 KiB there)"))
	e.Found = f
	// /tmp is the system's, not ebb's: no chmod from us (principle 2).
	e.SetFix(diag.Because("ebb itself needs nothing there", diag.Say("ask the administrator to restore the system's own mode for /tmp (1777, as systemd-tmpfiles or the installer set it)")))
	return []Finding{Warned(name, e)}
}

// blockedOutside reports whether what refused every one of a Maildir's
// failures is a directory above the Maildir d (found there by the probe),
// not the Maildir or something in it.
func blockedOutside(es []*diag.Error, d string) bool {
	for _, e := range es {
		if e.Found == nil || e.Found.Kind == "missing" || e.Found.Path == d || strings.HasPrefix(e.Found.Path, d+"/") {
			return false
		}
	}
	return true
}
