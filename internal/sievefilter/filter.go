package sievefilter

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/envaddr"
	"github.com/ebbmail/ebb/internal/maildir"
	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/resolve"
	"github.com/ebbmail/ebb/internal/sieve"
)

// Filter runs the Sieve scripts of a mailbox at delivery. It implements
// deliver.Filter. One Filter serves a whole process; it is safe for
// concurrent use.
type Filter struct {
	Cfg *config.Config
	Log *slog.Logger
	// Outbox sends redirects and vacation replies. Nil: they are returned
	// in the Decision (Redirects, Outbound) for the caller to send.
	Outbox Outbox
	// Now is the clock (vacation and duplicate periods); nil is time.Now.
	Now func() time.Time
	// DryRun decides without side effects (ebb route): no folder of
	// fileinto :create is made, no redirect or vacation reply is sent (they
	// are returned in the Decision, as with a nil Outbox), no vacation
	// sender and no duplicate id is remembered (Delivered stays nil).
	DryRun bool
	// WouldCreate, in a dry run, is told each folder that fileinto :create
	// would make (RFC 5490 §3.2) instead of making it.
	WouldCreate func(folder string)
	// State keeps the vacation and duplicate records; New sets the files
	// under server.data_dir (FileState), which a caller sharing state
	// with other hosts replaces.
	State State
	// MayWriteAs says whether the user of mailbox may send as addr
	// (ebb serve: submission.sender_policy, the rule From: is checked by
	// at submission). A vacation :from it refuses is replaced by the
	// mailbox's address: the response is signed as it leaves, and a
	// script must not send text of its choosing in another user's name.
	// An error (the rule could not be judged: the directory did not
	// answer) refuses too, and the log line and the response's record
	// name it instead of the rule. Nil: only the mailbox's own address.
	MayWriteAs func(ctx context.Context, mailbox, addr string) (bool, error)
	// FromReplaced, when set, is called for each vacation :from replaced
	// by the mailbox's own address (ebb serve counts them in a metric;
	// the log line is written either way).
	FromReplaced func()
	// VacationNotSent, when set, is called for each vacation response
	// that could not be queued (ebb serve counts them); the log line is
	// written either way, and the Decision's Notes say it for the
	// delivery's record.
	VacationNotSent func()
	// Skipped, when set, is called for each script skipped at a delivery,
	// with why: "missing" (a sieve.before/after script that is not
	// there), "compile" or "runtime" (a broken script: the message is
	// kept). ebb serve counts them; the log line is written either way,
	// and the Decision's Notes say it for the delivery's record.
	Skipped func(why string)

	cache *Cache
}

// vacationFrom is v.From when the mailbox may write as it: one address,
// the mailbox's own or one MayWriteAs allows; else "" (the mailbox's own
// address is used), the log says why, and so does replaced, for the
// response's record (Note). A dry run sends nothing: it neither logs nor
// counts (FromReplaced) the replacement, and replaced says what a
// delivery would do, for the Decision's Outbound (ebb route shows it).
func (f *Filter) vacationFrom(ctx context.Context, mb *resolve.Mailbox, from string) (_, replaced string) {
	if from == "" {
		return "", ""
	}
	list, err := mailhdr.ParseAddressList(from)
	var judged error // why the rule could not say
	if err == nil && len(list) == 1 && list[0].Group == "" && mb.Address != "" {
		spec := list[0].Spec()
		if strings.EqualFold(spec, mb.Address) {
			return from, ""
		}
		if f.MayWriteAs != nil {
			ok, err := f.MayWriteAs(ctx, mb.Address, spec)
			if err == nil && ok {
				return from, ""
			}
			judged = err
		}
	}
	why := "the mailbox may not send as it (submission.sender_policy)"
	if judged != nil {
		why = "whether the mailbox may send as it (submission.sender_policy) could not be judged: " + judged.Error()
	}
	if f.DryRun {
		return "", fmt.Sprintf("the vacation response would be sent from <%s>, the mailbox's own address, not from the script's :from %q: %s (dry run: nothing sent)", mb.Address, from, why)
	}
	if judged != nil {
		f.Log.Warn("sieve: vacation :from could not be judged (submission.sender_policy): the response is sent from the mailbox's own address",
			"mailbox", mb.Address, "from", from, "err", judged.Error())
	} else {
		f.Log.Warn("sieve: vacation :from is not an address of the mailbox (submission.sender_policy): the response is sent from the mailbox's own address",
			"mailbox", mb.Address, "from", from)
	}
	if f.FromReplaced != nil {
		f.FromReplaced()
	}
	return "", fmt.Sprintf("vacation response sent from <%s>, the mailbox's own address, not from the script's :from %q: %s", mb.Address, from, why)
}

// New returns a Filter for cfg.
func New(cfg *config.Config, log *slog.Logger, out Outbox) *Filter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Filter{Cfg: cfg, Log: log, Outbox: out, State: NewFileState(cfg), cache: NewCache()}
}

// NewDryRun is the Filter a dry run decides with (ebb route, and the
// quota refusal at the end of DATA): New without an outbox, DryRun set,
// and state, when not nil, read in place of the files under
// server.data_dir (several hosts share it in their database).
func NewDryRun(cfg *config.Config, log *slog.Logger, state State) *Filter {
	f := New(cfg, log, nil)
	f.DryRun = true
	if state != nil {
		f.State = state
	}
	return f
}

func (f *Filter) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// userPaths are one mailbox's Sieve paths.
type userPaths struct {
	home, script, dir, maildir string
}

// expand fills a path template of the sieve section.
func (f *Filter) expand(tmpl string, vars map[string]string) string {
	for k, v := range vars {
		tmpl = strings.ReplaceAll(tmpl, "{"+k+"}", v)
	}
	if home, ok := vars["home"]; ok {
		if tmpl == "~" {
			tmpl = home
		} else if strings.HasPrefix(tmpl, "~/") {
			tmpl = filepath.Join(home, tmpl[2:])
		}
	}
	return filepath.Clean(tmpl)
}

func (f *Filter) paths(mb *resolve.Mailbox) (userPaths, error) {
	md := mb.Maildir
	if md == "" {
		p, err := deliver.MaildirFor(f.Cfg, mb.Address)
		if err != nil {
			return userPaths{}, err
		}
		md = p
	}
	local, domain, _ := envaddr.Split(mb.Address)
	vars := map[string]string{"maildir": filepath.Clean(md), "local": local, "domain": domain,
		"address": mb.Address, "data_dir": f.Cfg.Server.DataDir}
	home := f.expand(f.Cfg.Sieve.Home, vars)
	vars["home"] = home
	return userPaths{home: home, maildir: vars["maildir"],
		script: f.expand(f.Cfg.Sieve.Script, vars), dir: f.expand(f.Cfg.Sieve.Dir, vars)}, nil
}

// HasScripts reports whether a delivery to mb runs a Sieve script
// (sieve.enabled, and sieve.before or sieve.after set, or the user's
// script there — or not known to be missing): whether its decision may
// differ from a plain keep. The SMTP server's RCPT check leaves such a
// mailbox's quota to the end of DATA, where the scripts run on the message.
func (f *Filter) HasScripts(mb *resolve.Mailbox) bool {
	if !f.Cfg.Sieve.Enabled {
		return false
	}
	if len(f.Cfg.Sieve.Before)+len(f.Cfg.Sieve.After) > 0 {
		return true
	}
	p, err := f.paths(mb)
	if err != nil {
		return false // Decide fails the same way: the delivery says why
	}
	_, err = os.Stat(p.script)
	return !errors.Is(err, fs.ErrNotExist)
}

// Decide runs the global before scripts, the user's active script and the
// global after scripts, and says what to do with the message. A script that
// does not compile or fails at run time is logged and the message is kept
// (RFC 5228 §2.10.6): mail is never lost to a broken script. Only trouble
// reading a script or the message is an error (temporary: the delivery is
// retried, as with Dovecot's LDA).
func (f *Filter) Decide(ctx context.Context, mb *resolve.Mailbox, msg *deliver.Message, env deliver.Envelope) (*deliver.Decision, error) {
	if !f.Cfg.Sieve.Enabled {
		return nil, nil
	}
	p, err := f.paths(mb)
	if err != nil {
		return nil, f.diagErr("expand", "find the Sieve script of", mb.Address, err, "sieve.script")
	}
	var chain []string
	chain = append(chain, f.Cfg.Sieve.Before...)
	chain = append(chain, p.script)
	chain = append(chain, f.Cfg.Sieve.After...)

	opts, err := CompileOptions(f.Cfg, Dirs{Personal: p.dir, Global: f.Cfg.Sieve.GlobalDir})
	if err != nil {
		return nil, f.diagErr("compile", "set up Sieve for", mb.Address, err, "sieve.extensions")
	}
	var scripts []*sieve.Script
	var notes []string // scripts skipped (Decision.Notes)
	for i, path := range chain {
		s, err := f.cache.Get(path, p.dir, opts)
		switch {
		case errors.Is(err, ErrNoScript):
			if i < len(f.Cfg.Sieve.Before) || path != p.script {
				f.Log.Warn("sieve: global script missing, skipped", "mailbox", mb.Address, "script", path)
				notes = append(notes, f.skipped("missing", fmt.Sprintf("Sieve script %s (%s) missing: skipped",
					path, scriptSetting(i, len(f.Cfg.Sieve.Before), false))))
			}
			continue
		case IsCompileError(err):
			// A broken script: keep the message, say why and where.
			f.Log.Error("sieve: script does not compile; keeping the message", "mailbox", mb.Address,
				"script", path, "error", err.Error(), "hint", "ebb sieve check "+path)
			return f.keepAll(env, append(notes, f.skipped("compile", fmt.Sprintf(
				"Sieve script %s does not compile (%v): no script ran, the message is kept (ebb sieve check %s)", path, err, path)))...), nil
		case err != nil:
			return nil, f.diagErr("read", "read the Sieve script", path, err, scriptSetting(i, len(f.Cfg.Sieve.Before), path == p.script))
		}
		scripts = append(scripts, s)
	}
	if len(scripts) == 0 {
		if len(notes) > 0 {
			return f.keepAll(env, notes...), nil
		}
		return nil, nil
	}

	file, err := os.Open(msg.Path)
	if err != nil {
		return nil, f.diagErr("open", "read the message for Sieve", msg.Path, err, "")
	}
	defer file.Close()
	m, err := sieve.NewMessage(file, msg.Size)
	if err != nil {
		return nil, f.diagErr("read", "read the message for Sieve", msg.Path, err, "")
	}
	user := mb.Address
	if user == "" {
		user = p.maildir
	}
	now := f.now()
	st := &userState{st: f.State, mailbox: user, now: now}
	host := f.Cfg.Server.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	sender := env.Sender
	if sender == "<>" {
		sender = ""
	}
	rcpt := env.Recipient
	if rcpt == "" {
		rcpt = mb.Address
	}
	senv := sieve.Envelope{From: sender, To: rcpt}
	// spamtest/virustest (RFC 5235) read ebb's own scan headers.
	spam, percent, virus := sieve.Scores(m.Header())
	rt := sieve.Runtime{
		SpamScore: spam, SpamPercent: percent, VirusScore: virus,
		Now:       now,
		Duplicate: st,
		Vacation:  st,
		// RFC 5183: ebb runs Sieve as the delivery agent, during delivery.
		Environment:   map[string]string{"location": "MDA", "phase": "during", "domain": host, "host": host},
		UserAddresses: nonEmpty(mb.Address),
		MailboxExists: func(name string) bool { return maildir.HasFolder(p.maildir, name) },
	}

	// Pigeonhole's sieve_before/sieve_after: the scripts share one result;
	// an action in any of them cancels the implicit keep.
	var actions []sieve.Action
	var edited []sieve.HeaderField  // the last script's edited header, if any edited it
	var marks []sieve.DuplicateMark // duplicate ids to remember once delivered
	keep := true
	var keepFlags []string
	for _, s := range scripts {
		res, err := s.Run(ctx, m, senv, rt)
		if err != nil {
			if ctx.Err() != nil {
				return nil, f.diagErr("run", "run the Sieve script", s.Name(), ctx.Err(), "")
			}
			f.Log.Error("sieve: script failed at run time; keeping the message", "mailbox", mb.Address,
				"script", s.Name(), "error", err.Error())
			return f.keepAll(env, append(notes, f.skipped("runtime", fmt.Sprintf(
				"Sieve script %s failed at run time (%v): its actions and the other scripts' not done, the message is kept", s.Name(), err)))...), nil
		}
		actions = append(actions, res.Actions...)
		if !res.ImplicitKeep {
			keep = false
		} else {
			keepFlags = res.ImplicitKeepFlags
		}
		if res.EditedHeader != nil {
			edited = res.EditedHeader
		}
		marks = append(marks, res.DuplicateMarks...)
	}
	if !f.DryRun {
		f.createFolders(mb, p.maildir, actions)
	} else if f.WouldCreate != nil {
		for _, a := range actions {
			if fi, ok := a.(sieve.FileInto); ok && fi.Create {
				f.WouldCreate(fi.Mailbox)
			}
		}
	}
	d, err := f.decision(ctx, mb, msg, env, m, actions, keep, keepFlags, host, st, sender)
	if err == nil && d != nil {
		d.Notes = append(notes, d.Notes...)
	}
	if err == nil && d != nil && len(marks) > 0 && !f.DryRun {
		d.Delivered = func() {
			// The message is stored; failing to remember its id only means a
			// later copy is not taken for a duplicate: a warning, not a failure.
			if err := f.State.Remember(context.WithoutCancel(ctx), user, marks, now); err != nil {
				f.Log.Warn("sieve: cannot remember duplicate ids", "mailbox", mb.Address,
					"diag", f.stateErr("remember duplicate ids in", user, err, "sieve.duplicate_dir"))
			}
		}
	}
	if err == nil && d != nil && edited != nil {
		// editheader (RFC 5293): the stored copy carries the edited header.
		d.Header = make([]string, len(edited))
		for i, h := range edited {
			d.Header[i] = h.Name + ":" + h.Value
		}
	}
	return d, err
}

// createFolders makes the folders of fileinto :create (RFC 5490 §3.2) even
// when mail.create_folders is false; delivery creates the others only when
// it is true.
func (f *Filter) createFolders(mb *resolve.Mailbox, top string, actions []sieve.Action) {
	if f.Cfg.Mail.CreateFolders {
		return
	}
	for _, a := range actions {
		fi, ok := a.(sieve.FileInto)
		if !ok || !fi.Create {
			continue
		}
		dir, err := maildir.FolderDir(top, fi.Mailbox)
		if err == nil && dir != top {
			err = maildir.Ensure(dir, true, true)
		}
		if err != nil {
			f.Log.Warn("sieve: cannot create the folder of fileinto :create", "mailbox", mb.Address, "folder", fi.Mailbox, "error", err)
		}
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// keepAll is the fallback decision: store in the envelope's folder, with
// notes saying why (Decision.Notes).
func (f *Filter) keepAll(env deliver.Envelope, notes ...string) *deliver.Decision {
	return &deliver.Decision{Stores: []deliver.Store{{Folder: env.Folder}}, Notes: notes}
}

// skipped counts a script skipped for why (Skipped) and returns note.
func (f *Filter) skipped(why, note string) string {
	if f.Skipped != nil {
		f.Skipped(why)
	}
	return note
}

// decision carries out the actions that leave the mailbox (redirect,
// vacation) and turns the rest into a deliver.Decision.
func (f *Filter) decision(ctx context.Context, mb *resolve.Mailbox, msg *deliver.Message, env deliver.Envelope,
	m sieve.Message, actions []sieve.Action, keep bool, keepFlags []string, host string, st *userState, sender string) (*deliver.Decision, error) {
	d := &deliver.Decision{}
	stored := map[string]int{}
	store := func(folder string, flags []string) {
		key := strings.ToLower(folder)
		if key == "inbox" {
			key = ""
		}
		if i, ok := stored[key]; ok {
			d.Stores[i].Flags = mergeFlags(d.Stores[i].Flags, flags)
			return
		}
		stored[key] = len(d.Stores)
		d.Stores = append(d.Stores, deliver.Store{Folder: folder, Flags: flags})
	}
	for _, a := range actions {
		switch a := a.(type) {
		case sieve.Keep:
			store(env.Folder, a.Flags)
		case sieve.FileInto:
			store(a.Mailbox, a.Flags)
		case sieve.Discard:
			d.Discard = true
		case sieve.Reject:
			d.Reject = a.Reason
			if d.Reject == "" {
				d.Reject = "Message rejected by the recipient's filter"
			}
		case sieve.Redirect:
			if err := f.redirect(ctx, mb, msg, sender, a.Address, d); err != nil {
				return nil, err
			}
		case sieve.Vacation:
			f.vacation(ctx, mb, m, a, host, st, d)
		case sieve.AddHeader, sieve.DeleteHeader:
			// Reported once per run in Decide.
		}
	}
	if keep {
		store(env.Folder, keepFlags)
	}
	if len(d.Stores) == 0 && d.Reject == "" {
		// Everything cancelled the implicit keep without storing
		// (discard, redirect, vacation-only scripts do not cancel it).
		d.Discard = true
	}
	if d.Reject != "" {
		d.Stores = nil
	}
	return d, nil
}

func mergeFlags(a, b []string) []string {
	for _, x := range b {
		dup := false
		for _, y := range a {
			if strings.EqualFold(x, y) {
				dup = true
			}
		}
		if !dup {
			a = append(a, x)
		}
	}
	return a
}

// redirect resends the stored message to addr with the original envelope
// sender (RFC 5228 §4.2: the envelope sender may stay the original one).
func (f *Filter) redirect(ctx context.Context, mb *resolve.Mailbox, msg *deliver.Message, sender, addr string, d *deliver.Decision) error {
	if f.Outbox == nil || f.DryRun {
		d.Redirects = append(d.Redirects, addr)
		return nil
	}
	r, err := redirectReader(msg.Path)
	if err != nil {
		return f.diagErr("open", "read the message to redirect it", msg.Path, err, "")
	}
	defer r.Close()
	id, err := f.Outbox.Send(Resending(ctx), sender, []string{addr}, r)
	if err != nil {
		// Not sent means not done: fail the delivery temporarily so that
		// the redirect is tried again rather than lost.
		return diag.From(fmt.Errorf("redirect to %s: %w", addr, err), "sieve", "redirect")
	}
	f.Log.Info("sieve: redirected", "mailbox", mb.Address, "to", addr, "queue_id", id)
	return nil
}

// vacation sends a response unless the interpreter found a reason not to
// (RFC 5230 §4.5, RFC 3834 §2: <>, lists, bulk, auto-submitted, not
// addressed to the user, already answered within :days/:seconds). It first
// claims the sender for the period in State, so that of two deliveries at
// once (two hosts sharing State) one answers; a response that cannot be
// queued gives the claim back. A failure is logged, counted
// (VacationNotSent) and noted in the Decision (the delivery's record), not
// fatal: the message itself is delivered either way.
func (f *Filter) vacation(ctx context.Context, mb *resolve.Mailbox, m sieve.Message, v sieve.Vacation, host string, st *userState, d *deliver.Decision) {
	if v.Skip != "" {
		if !f.DryRun { // a dry run sends none: it has nothing to say
			f.Log.Info("sieve: vacation response not sent", "mailbox", mb.Address, "to", v.To, "why", v.Skip)
		}
		return
	}
	from := mb.Address
	if from == "" {
		from = "MAILER-DAEMON@" + host
	}
	var replaced string
	v.From, replaced = f.vacationFrom(ctx, mb, v.From)
	if replaced != "" {
		ctx = noting(ctx, replaced) // the outbox records it with the response (Note)
	}
	reply := vacationReply(v, m.Header(), from, host, st.now)
	if f.DryRun {
		// Shown, not sent: nothing to claim.
		d.Outbound = append(d.Outbound, deliver.Outbound{Sender: "", Recipients: []string{v.To}, Data: reply, Note: replaced})
		return
	}
	period := time.Duration(v.Seconds) * time.Second
	claimed, err := f.State.ClaimAnswer(ctx, st.mailbox, v.Handle, v.To, period, st.now)
	switch {
	case err != nil:
		// Answering once too often is better than never: the response
		// goes out, and the log says the record could not be kept.
		f.Log.Warn("sieve: cannot remember the vacation response; the sender may be answered again",
			"mailbox", mb.Address, "to", v.To, "diag", f.stateErr("remember a vacation response in", st.mailbox, err, "sieve.vacation_dir"))
	case !claimed:
		f.Log.Info("sieve: vacation response not sent", "mailbox", mb.Address, "to", v.To,
			"why", "answered already (another delivery claimed it at the same time)")
		return
	}
	if f.Outbox == nil {
		// The caller sends it.
		d.Outbound = append(d.Outbound, deliver.Outbound{Sender: "", Recipients: []string{v.To}, Data: reply, Note: replaced})
		return
	}
	id, err := f.Outbox.Send(ctx, "", []string{v.To}, bytesReader(reply))
	if err != nil {
		f.Log.Error("sieve: vacation response not sent", "mailbox", mb.Address, "to", v.To, "error", err)
		d.Notes = append(d.Notes, fmt.Sprintf("vacation response to <%s> not sent: it could not be queued (%v)", v.To, err))
		if f.VacationNotSent != nil {
			f.VacationNotSent()
		}
		if claimed {
			if err := f.State.Unclaim(context.WithoutCancel(ctx), st.mailbox, v.Handle, v.To); err != nil {
				f.Log.Warn("sieve: cannot forget the vacation response that was not sent; the sender is not answered within the period",
					"mailbox", mb.Address, "to", v.To, "error", err)
			}
		}
		return
	}
	f.Log.Info("sieve: vacation response queued", "mailbox", mb.Address, "to", v.To, "queue_id", id)
}

func scriptSetting(i, nBefore int, user bool) string {
	switch {
	case user:
		return "sieve.script"
	case i < nBefore:
		return "sieve.before"
	}
	return "sieve.after"
}

// diagErr is a temporary failure at the filter boundary.
func (f *Filter) diagErr(op, doing, path string, err error, key string) error {
	var setting *diag.Setting
	if key != "" {
		setting = f.Cfg.Setting(key)
	}
	e := diag.PathError("sieve", op, doing, path, err, setting)
	e.Class = diag.Temporary
	return e
}

// stateErr is a failure of State about mailbox, for the log.
func (f *Filter) stateErr(doing, mailbox string, err error, key string) error {
	if de, ok := diag.As(err); ok {
		return de // the database's own words
	}
	return f.diagErr("write", doing, f.State.Where(mailbox), err, key)
}

var _ deliver.Filter = (*Filter)(nil)
