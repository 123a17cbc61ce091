// Package deliver is ebb's local delivery agent: it puts one message into
// the Maildir++ of each mailbox an address reaches. The queue daemon calls
// it for a message already in the spool (DeliverFile); `ebb deliver`, the
// MDA an MTA pipes into, calls it for stdin (Deliver).
//
// One message, one write (principle 2): the message, with the header lines
// ebb prepends (Return-Path, Delivered-To, -A headers, Envelope.Prefix such
// as Received), is streamed once into tmp/ of the first mailbox's Maildir and
// fsynced. Every store after that — more mailboxes of an alias, Sieve
// fileinto — is a hard link of that file (a copy of the file across
// filesystems), never a copy from memory, never /tmp. There is no size
// threshold anywhere: 0 bytes and 100 MiB take the same path.
//
// Usage:
//
//	a := &deliver.Agent{Cfg: cfg, Resolver: dir, Filter: sieveFilter, Log: log}
//	rep, err := a.DeliverFile(ctx, spoolPath, deliver.Envelope{
//		Sender: "bob@example.net", Recipient: "alice@example.com",
//		Prefix: receivedHeader,
//	})
//	// err == nil: every mailbox got the message.
//	// err is a *diag.Error: the most urgent failure (temporary before
//	// permanent); rep.Outcomes says which mailboxes were delivered, so a
//	// retry can pass them in Envelope.Done and not duplicate them.
//	// rep.Redirects, rep.Outbound, rep.Forwards are for the queue.
//
// Errors are *diag.Error with Class set: our own trouble (permissions, disk
// full, a missing Maildir) is temporary (exit 75); an unknown mailbox (67), a
// mail loop (65, 5.4.6), over quota when mail.over_quota = "permanent" (77)
// and a Sieve reject (77) are permanent.
package deliver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/envaddr"
	"github.com/ebbmail/ebb/internal/maildir"
	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/resolve"
	"github.com/ebbmail/ebb/internal/safeio"
)

// Agent delivers messages. Its zero value is not usable: set Cfg.
type Agent struct {
	Cfg *config.Config
	// Resolver maps an address to mailboxes; nil: every address is one
	// mailbox whose Maildir comes from mail.maildir.
	Resolver resolve.Resolver
	// Filter decides per mailbox (Sieve); nil: keep in Envelope.Folder.
	Filter Filter
	// Log receives one line per delivered or failed mailbox; nil: silent.
	Log *slog.Logger
	// FolderFallback is told of each message stored in INBOX because its
	// folder (a Sieve fileinto, Envelope.Folder) cannot be used, by why:
	// "name" (not a usable folder name) or "unusable" (it cannot be made
	// or opened). ebb serve counts it (ebb_deliver_folder_fallbacks_total);
	// nil: not counted (the log and the outcome's note say it).
	FolderFallback func(why string)
	// UsageNotUpdated is told of each stored message that maildirsize
	// could not count (maildir.AddUsage failed): the mailbox's usage
	// looks smaller than it is until the file is counted again. ebb serve
	// counts it (ebb_deliver_maildirsize_not_updated_total); nil: not
	// counted (the log and the outcome's note say it).
	UsageNotUpdated func()
	// QuotaCached is told of each delivery whose quota was decided on the
	// mailbox as the resolution cache remembers it because the directory
	// could not read it now (MailboxNow failed). ebb serve counts it
	// (ebb_quota_cached_total{at="delivery"}); nil: not counted (the log
	// and the outcome's note say it).
	QuotaCached func()
	// Component names the speaker in error sentences; "" is "ebb deliver".
	Component string
	// Namer makes the unique file names; nil: one made from
	// server.hostname at first use. Share one per process.
	Namer *maildir.Namer

	once sync.Once
}

// Envelope is what the delivery knows besides the message.
type Envelope struct {
	// Sender is the envelope sender, written as Return-Path; "" or "<>"
	// is the null sender.
	Sender string
	// OmitReturnPath leaves Return-Path out (ebb deliver without -f).
	OmitReturnPath bool
	// Recipient is the address delivered to, written as Delivered-To
	// (also the loop check). It may be "" with Maildir set.
	Recipient string
	// Maildir, when set, is the one Maildir to deliver to (ebb deliver
	// --maildir): no directory lookup.
	Maildir string
	// Prefix is header text to put above the message as is (e.g. the
	// queue's Received line), complete lines.
	Prefix []byte
	// Headers are more "Name: value" lines to prepend (ebb deliver -A).
	Headers []string
	// Folder is where the message goes without a filter decision ("" is
	// INBOX).
	Folder string
	// Done lists mailbox addresses an earlier attempt already delivered:
	// they are skipped.
	Done []string
	// StripAuthResults, when set, is ebb's authserv-id: the message's own
	// Authentication-Results fields that claim it are left out of the
	// stored copy (RFC 8601 §5; untrusted.go), so a forged one cannot
	// pass for ebb's. ebb's own results come in Prefix.
	StripAuthResults string
	// RenameVerdicts renames the message's own scanner verdict fields
	// (X-Spam-*, X-Virus-*, X-Ebb-*, …) to X-Ebb-Untrusted-<name> in the
	// stored copy (untrusted.go): ebb's own verdicts come in Prefix.
	RenameVerdicts bool
}

// Outcome is what happened for one mailbox.
type Outcome struct {
	Mailbox   string   // address ("" for --maildir without -d)
	Maildir   string   // the top Maildir
	Files     []string // the stored files, in new/ or cur/
	Discarded bool     // the filter discarded the message (success)
	Err       *diag.Error
	// Notes: what was not done as asked (the filter's Decision.Notes, a
	// folder that could not be used, keywords not stored): said in the
	// delivery's record.
	Notes []string
}

// Delivered reports whether this mailbox is done with the message.
func (o *Outcome) Delivered() bool { return o.Err == nil }

// Report is the result of one delivery.
type Report struct {
	Outcomes  []Outcome
	Forwards  []string   // remote addresses reached through aliases
	Redirects []string   // from filters
	Outbound  []Outbound // from filters (vacation replies)
	Size      int64      // bytes of the stored file (with ebb's prefix)
}

// Delivered returns the mailbox addresses that have the message.
func (r *Report) Delivered() []string {
	var out []string
	for i := range r.Outcomes {
		if r.Outcomes[i].Delivered() {
			out = append(out, r.Outcomes[i].Mailbox)
		}
	}
	return out
}

// Err is the error to act on: the first temporary failure (retrying helps),
// else the first permanent one, else nil.
func (r *Report) Err() *diag.Error {
	var perm *diag.Error
	for i := range r.Outcomes {
		e := r.Outcomes[i].Err
		if e == nil {
			continue
		}
		if e.Temporary() {
			return e
		}
		if perm == nil {
			perm = e
		}
	}
	return perm
}

func (r *Report) err() error {
	if e := r.Err(); e != nil {
		return e
	}
	return nil
}

func (a *Agent) component() string {
	if a.Component != "" {
		return a.Component
	}
	return "ebb deliver"
}

func (a *Agent) namer() *maildir.Namer {
	a.once.Do(func() {
		if a.Namer == nil {
			a.Namer = maildir.NewNamer(a.Cfg.Server.Hostname)
		}
	})
	return a.Namer
}

func (a *Agent) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.New(slog.DiscardHandler)
}

// DeliverFile delivers the message in the file at path. The file is only
// read. It holds the message as it crossed the wire, with CRLF line ends;
// the Maildir copy gets LF ones (see lfReader).
func (a *Agent) DeliverFile(ctx context.Context, path string, env Envelope) (*Report, error) {
	f, err := safeio.Open(path)
	if err != nil {
		e := diag.PathError(a.component(), "open", "open the message", path, err, nil)
		return &Report{}, e
	}
	defer f.Close()
	return a.DeliverFrom(ctx, f, path, env)
}

// DeliverFrom delivers the message read from r, a queued message's data
// (queue.Message.OpenData) whose spool file is source, as DeliverFile.
func (a *Agent) DeliverFrom(ctx context.Context, r io.Reader, source string, env Envelope) (*Report, error) {
	lf := newLFReader(r)
	defer lf.release()
	return a.deliver(ctx, lf, source, env)
}

// Deliver delivers the message read from r (stdin in MDA mode), streaming
// it once into a Maildir's tmp/. CRLF line ends become LF, as from the
// spool: every file in a Maildir has one line-end style, LF (maildir(5)).
func (a *Agent) Deliver(ctx context.Context, r io.Reader, env Envelope) (*Report, error) {
	lf := newLFReader(r)
	defer lf.release()
	return a.deliver(ctx, lf, "stdin", env)
}

func (a *Agent) deliver(ctx context.Context, r io.Reader, source string, env Envelope) (*Report, error) {
	rep := &Report{}
	if e := a.checkEnvelope(env); e != nil {
		return rep, e
	}
	ts, e := a.targets(ctx, env, rep)
	if e != nil {
		return rep, e
	}
	if len(ts) == 0 {
		return rep, rep.err()
	}
	st, ts := a.stage(ctx, r, source, env, ts, rep)
	if st == nil {
		return rep, rep.err()
	}
	defer st.tmp.Remove()
	rep.Size = st.tmp.Size()

	view := st.header()
	if loop := a.loop(env, ts, view.deliveredTos); loop != nil {
		for _, t := range ts {
			rep.Outcomes = append(rep.Outcomes, Outcome{Mailbox: t.mb.Address, Maildir: t.maildir, Err: loop})
		}
		return rep, rep.err()
	}
	msg := &Message{Header: view.header, Path: st.tmp.Path, Offset: st.offset, Size: st.tmp.Size()}
	for _, t := range ts {
		out := a.store(ctx, st, msg, t, env, rep)
		if out.Err != nil {
			a.log().Warn("delivery failed", "mailbox", out.Mailbox, "maildir", out.Maildir, "error", out.Err)
		} else {
			a.log().Info("delivered", "mailbox", out.Mailbox, "maildir", out.Maildir, "files", out.Files, "size", rep.Size, "discarded", out.Discarded)
		}
		rep.Outcomes = append(rep.Outcomes, out)
	}
	return rep, rep.err()
}

func (a *Agent) checkEnvelope(env Envelope) *diag.Error {
	bad := func(what string, err error) *diag.Error {
		e := a.newErr("parse", "use "+what, "", err)
		e.Class, e.Exit = diag.Permanent, diag.ExUsage
		return e
	}
	for _, h := range env.Headers {
		if err := checkHeaderLine(h); err != nil {
			return bad(fmt.Sprintf("the header %q", h), err)
		}
	}
	// The recipient is written as Delivered-To and picks the mailbox: it
	// must be an address the SMTP server would take at RCPT (envaddr, the
	// one parser), or a control character in it would reach the header.
	if env.Recipient != "" {
		if _, err := envaddr.Parse(env.Recipient); err != nil {
			e := bad(fmt.Sprintf("the recipient %q", env.Recipient), reason(err))
			e.Exit = diag.ExNoUser // no mailbox can have such an address
			return e
		}
	}
	// The sender is another MTA's (ebb deliver -f): it only has to be
	// writable into Return-Path as it is.
	if s := env.Sender; s != "<>" {
		if err := envaddr.Writable(s); err != nil {
			return bad(fmt.Sprintf("the sender %q", s), reason(err))
		}
	}
	return nil
}

// reason is envaddr's refusal without the address (the caller names it).
func reason(err error) error {
	var e *envaddr.Error
	if errors.As(err, &e) {
		return errors.New(e.Reason)
	}
	return err
}

// staged is the one written copy of the message.
type staged struct {
	tmp    *maildir.Tmp
	offset int64 // where the original message starts
	t      target
}

// header reads the original message's header from the staged file.
func (s *staged) header() headerView {
	f, err := safeio.Open(s.tmp.Path)
	if err != nil {
		return headerView{header: &mailhdr.Header{}}
	}
	defer f.Close()
	if _, err := f.Seek(s.offset, io.SeekStart); err != nil {
		return headerView{header: &mailhdr.Header{}}
	}
	return readHeaderView(f)
}

// stage writes the message once, into tmp/ of the first target whose
// Maildir takes it. Targets whose Maildir refused get their outcome here; the
// remaining targets are returned. On a write failure every target fails:
// the input is consumed.
func (a *Agent) stage(ctx context.Context, r io.Reader, source string, env Envelope, ts []target, rep *Report) (*staged, []target) {
	var tmp *maildir.Tmp
	var at int
	for at = 0; at < len(ts); at++ {
		t := ts[at]
		if e := a.ensure(t.maildir, false, t.setting); e != nil {
			rep.Outcomes = append(rep.Outcomes, Outcome{Mailbox: t.mb.Address, Maildir: t.maildir, Err: e})
			continue
		}
		var err error
		tmp, err = maildir.CreateTmp(t.maildir, a.namer())
		if err != nil {
			e := a.pathErr("create", "create a file in", filepath.Join(t.maildir, "tmp"), err, t.setting)
			rep.Outcomes = append(rep.Outcomes, Outcome{Mailbox: t.mb.Address, Maildir: t.maildir, Err: e})
			continue
		}
		break
	}
	if tmp == nil {
		return nil, nil
	}
	first := ts[at]
	rest := ts[at:]
	failAll := func(e *diag.Error) (*staged, []target) {
		tmp.Remove()
		for _, t := range rest {
			rep.Outcomes = append(rep.Outcomes, Outcome{Mailbox: t.mb.Address, Maildir: t.maildir, Err: e})
		}
		return nil, nil
	}

	br := bufpool.Reader(r)
	defer bufpool.PutReader(br) // nothing staged refers to it
	prefix, body := a.head(br, env)
	// The prefix goes out in the message's first write.
	if _, err := tmp.ReadFrom(io.MultiReader(bytes.NewReader(prefix), body)); err != nil {
		var re *maildir.ReadError
		if errors.As(err, &re) {
			return failAll(a.readErr(source, re.Err))
		}
		return failAll(a.pathErr("write", "write", tmp.Path, err, first.setting))
	}
	if err := ctx.Err(); err != nil {
		return failAll(a.readErr(source, err))
	}
	if err := tmp.FinishWith(a.namer()); err != nil {
		return failAll(a.pathErr("fsync", "fsync", tmp.Path, err, first.setting))
	}
	return &staged{tmp: tmp, offset: int64(len(prefix)), t: first}, rest
}

// head returns what is written for the message in br: ebb's prefix, then
// the message as body reads it (the stored copy starts at len(prefix)).
// The message is read by mailhdr as every part reads it: an mbox "From "
// line is dropped (it is envelope, not message: maildir(5)); where the
// header ends at a line that is no field (or the message has none), an
// empty line is written before that line, as Postfix's cleanup does, so
// that every later reader finds the body where ebb did; and the fields
// env asks to drop or rename are (untrusted.go).
func (a *Agent) head(br *bufio.Reader, env Envelope) (prefix []byte, body io.Reader) {
	// The input reaches here with LF line ends (lfReader), so the prefix is
	// written with LF too.
	f := untrustedFilter(br, env)
	f.EndWithEmptyLine, f.DropMboxLine = true, true
	return a.prefix(env), f
}

// prefix is the header text ebb puts above the message, with LF line ends
// like the message itself: Envelope.Prefix (the queue's Received line and
// the checks' results, kept with CRLF as they would cross the wire) is
// converted, so that no Maildir file mixes CRLF and LF.
func (a *Agent) prefix(env Envelope) []byte {
	const eol = "\n"
	var b strings.Builder
	if !env.OmitReturnPath {
		s := env.Sender
		if s == "<>" {
			s = ""
		}
		b.WriteString("Return-Path: <" + s + ">" + eol)
	}
	hasDT := false
	for _, h := range env.Headers {
		if mailhdr.NewField(h).Is("Delivered-To") {
			hasDT = true
		}
	}
	if env.Recipient != "" && !hasDT {
		b.WriteString("Delivered-To: " + env.Recipient + eol)
	}
	for _, h := range env.Headers {
		b.WriteString(h + eol)
	}
	b.WriteString(strings.ReplaceAll(string(env.Prefix), "\r\n", "\n"))
	return []byte(b.String())
}

// loop returns the error for a message that already carries one of our own
// Delivered-To addresses (RFC 5321 §6.3 loop detection; Postfix local(8)
// does the same): 5.4.6.
func (a *Agent) loop(env Envelope, ts []target, deliveredTos []string) *diag.Error {
	if len(deliveredTos) == 0 {
		return nil // nothing to match: the own addresses need not be parsed (most mail)
	}
	own := map[string]bool{}
	if env.Recipient != "" {
		own[loopAddress(env.Recipient)] = true
	}
	for _, h := range env.Headers {
		if f := mailhdr.NewField(h); f.Is("Delivered-To") {
			own[loopAddress(f.Value())] = true
		}
	}
	for _, t := range ts {
		if t.mb.Address != "" {
			own[loopAddress(t.mb.Address)] = true
		}
	}
	for _, v := range deliveredTos {
		if own[loopAddress(v)] {
			e := a.newErr("loop", "deliver to", v, fmt.Errorf("mail forwarding loop (5.4.6): the message already carries Delivered-To: %s", v))
			e.Class, e.Exit = diag.Permanent, diag.ExDataErr
			e.SMTPCode, e.Enhanced, e.Public = 554, [3]int{5, 4, 6}, "Mail forwarding loop"
			e.Hint = fmt.Sprintf("find the forward or alias that sends mail for %s back to it", v)
			return e
		}
	}
	return nil
}

// mailboxReader reads one mailbox past the directory's cache
// (directory.Directory.Mailbox; resolve.Map.Mailbox reads the map).
type mailboxReader interface {
	Mailbox(ctx context.Context, address string) (*resolve.Mailbox, error)
}

// freshReader reads one mailbox as the database holds it now, from what it
// kept while the database has not changed (directory.Directory.MailboxNow:
// a change check instead of a query per delivery).
type freshReader interface {
	MailboxNow(ctx context.Context, address string) (*resolve.Mailbox, error)
}

// quotaNow is t's quota as the directory says it now, not as the cached
// resolution remembered it: a quota changed with ebb user quota applies at
// the next delivery, not after directory.cache_ttl (issue 21). When the
// read fails, the resolution's quota stands.
func (a *Agent) quotaNow(ctx context.Context, t target) (maildir.Quota, error) {
	if t.byDirectory {
		mb, err := MailboxNow(ctx, a.Resolver, t.mb.Address)
		if err == nil {
			return quotaOf(a.Cfg, mb), nil
		}
		if !errors.Is(err, errNoReader) {
			return quotaOf(a.Cfg, t.mb), err
		}
	}
	return quotaOf(a.Cfg, t.mb), nil
}

// addUsage is maildir.AddUsage; a test makes it fail (root writes past
// file modes).
var addUsage = maildir.AddUsage

// CachedQuotaNote is the record's note for a quota decided on the mailbox
// at address as the resolution cache remembers it, because the directory
// could not read it now (err).
func CachedQuotaNote(address string, err error) string {
	return fmt.Sprintf("quota of <%s> decided on the cached mailbox (directory.cache_ttl): the directory could not read it now (%v)", address, err)
}

// MailboxNow reads the mailbox at address as r's database holds it now,
// past the resolution cache (directory.cache_ttl): through r's change check
// when it has one (directory.Directory.MailboxNow), else by reading it
// again. It fails when r reads no single mailbox (nil, or a resolver of
// another kind) or the read failed: the caller keeps what it has.
func MailboxNow(ctx context.Context, r resolve.Resolver, address string) (*resolve.Mailbox, error) {
	switch r := r.(type) {
	case freshReader:
		return r.MailboxNow(ctx, address)
	case mailboxReader:
		return r.Mailbox(ctx, address)
	}
	return nil, errNoReader
}

var errNoReader = errors.New("the resolver reads no single mailbox")

// store carries out the decision for one mailbox.
func (a *Agent) store(ctx context.Context, st *staged, msg *Message, t target, env Envelope, rep *Report) Outcome {
	out := Outcome{Mailbox: t.mb.Address, Maildir: t.maildir}
	if t.maildir != st.t.maildir {
		if e := a.ensure(t.maildir, false, t.setting); e != nil {
			out.Err = e
			return out
		}
	}
	dec := &Decision{}
	if a.Filter != nil {
		d, err := a.Filter.Decide(ctx, t.mb, msg, env)
		if err != nil {
			out.Err = diag.From(err, a.component(), "filter")
			return out
		}
		if d != nil {
			dec = d
		}
	}
	out.Notes = append(out.Notes, dec.Notes...)
	rep.Redirects = append(rep.Redirects, dec.Redirects...)
	rep.Outbound = append(rep.Outbound, dec.Outbound...)
	if dec.Reject != "" {
		e := a.newErr("reject", "deliver to", t.mb.Address, fmt.Errorf("rejected by the mailbox's filter: %s", dec.Reject))
		e.Class, e.Exit = diag.Permanent, diag.ExNoPerm
		e.SMTPCode, e.Enhanced, e.Public = 550, [3]int{5, 7, 1}, dec.Reject
		out.Err = e
		return out
	}
	stores := dec.StoresFor(env.Folder)
	if len(stores) == 0 {
		out.Discarded = true
		if dec.Delivered != nil {
			dec.Delivered()
		}
		return out
	}
	q, stale := a.quotaNow(ctx, t)
	if stale != nil {
		a.log().Warn("quota decided on the cached mailbox: the directory could not read it now", "mailbox", t.mb.Address, "error", stale)
		if a.QuotaCached != nil {
			a.QuotaCached()
		}
		out.Notes = append(out.Notes, CachedQuotaNote(t.mb.Address, stale))
	}
	src := st.tmp
	if dec.Header != nil {
		// The edited header makes this mailbox's copy differ: write it once,
		// here, and link its stores to it as usual.
		edited, err := a.rewriteHeader(st, t.maildir, dec.Header)
		if err != nil {
			out.Err = a.pathErr("write", "write the filtered copy in", filepath.Join(t.maildir, "tmp"), err, t.setting)
			return out
		}
		defer edited.Remove()
		src = edited
	}
	size, vsize := src.Size(), src.VSize()
	for _, s := range stores {
		dir, note := a.folder(t, s.Folder)
		if note != "" {
			out.Notes = append(out.Notes, note)
		}
		check := maildir.CheckQuota
		if t.byDirectory {
			check = maildir.EnforceQuota
		}
		if err := check(t.maildir, q, size); err != nil {
			out.Err = a.quotaErr(t, err)
			return out
		}
		flags, ignored := maildir.FlagLetters(s.Flags)
		if len(ignored) > 0 {
			a.log().Warn("flags not stored: keywords need the IMAP server", "mailbox", t.mb.Address, "flags", ignored)
			out.Notes = append(out.Notes, fmt.Sprintf("flags %s not stored: keywords need the IMAP server", strings.Join(ignored, " ")))
		}
		p, err := maildir.Publish(src.Path, dir, src.Base, size, vsize, flags, a.namer())
		if err != nil {
			out.Err = a.pathErr("link", "link the message into", pathOf(err, filepath.Join(dir, "new")), err, t.setting)
			return out
		}
		out.Files = append(out.Files, p)
		if err := addUsage(t.maildir, size, 1); err != nil {
			// Stored: the message is delivered, but the quota does not
			// count it until maildirsize is counted again (principle 7).
			a.log().Warn("maildirsize not updated: the quota does not count this message until the file is counted again",
				"mailbox", t.mb.Address, "maildir", t.maildir, "path", filepath.Join(t.maildir, "maildirsize"), "error", err)
			if a.UsageNotUpdated != nil {
				a.UsageNotUpdated()
			}
			out.Notes = append(out.Notes, fmt.Sprintf("%s not updated (%v): the quota does not count this message until the file is counted again",
				filepath.Join(t.maildir, "maildirsize"), err))
		}
	}
	if dec.Delivered != nil {
		dec.Delivered()
	}
	return out
}

// folder returns the directory for an IMAP folder of t, creating it when
// mail.create_folders allows; when it cannot be used the message goes to
// INBOX (Dovecot's LDA does the same), which is logged, counted
// (FolderFallback) and said in note (for the delivery's record).
func (a *Agent) folder(t target, name string) (dir, note string) {
	dir, err := maildir.FolderDir(t.maildir, name)
	if err != nil {
		a.log().Warn("bad folder name, delivering to INBOX", "mailbox", t.mb.Address, "folder", name, "error", err)
		a.fellBack("name")
		return t.maildir, fmt.Sprintf("folder %q is not a usable name (%v): stored in INBOX", name, err)
	}
	if dir == t.maildir {
		return dir, ""
	}
	if err := maildir.Ensure(dir, a.Cfg.Mail.CreateFolders, true); err != nil {
		a.log().Warn("cannot use folder, delivering to INBOX", "mailbox", t.mb.Address, "folder", name, "error", err)
		a.fellBack("unusable")
		return t.maildir, fmt.Sprintf("folder %q cannot be used (%v): stored in INBOX", name, err)
	}
	return dir, ""
}

// fellBack tells FolderFallback, if set.
func (a *Agent) fellBack(why string) {
	if a.FolderFallback != nil {
		a.FolderFallback(why)
	}
}

// ensure checks (and with mail.create, creates) a Maildir.
func (a *Agent) ensure(dir string, folder bool, setting *diag.Setting) *diag.Error {
	err := maildir.Ensure(dir, a.Cfg.Mail.Create, folder)
	if err == nil {
		return nil
	}
	var me *maildir.MissingError
	if errors.As(err, &me) {
		e := a.pathErr("open", "deliver to", dir, err, setting)
		e.Reason = me.Error()
		e.Errno = "ENOENT"
		// The missing directories, made for the mail user (server.user)
		// with a Maildir's mode; or, for a whole Maildir, mail.create.
		who := a.Cfg.Setting("server.user").MailUser()
		var paths []string
		for _, m := range me.Missing {
			paths = append(paths, filepath.Join(dir, m))
		}
		f := diag.MakeDirMode(paths[0], "0700", who, setting, paths[1:]...).AndCheck(diag.DoctorHint(e.Component, setting))
		if len(me.Present) == 0 && !a.Cfg.Mail.Create {
			s := a.Cfg.Setting("mail.create")
			f.OrElse(diag.Steps(diag.Set(s, "true"), diag.Restart(s)))
		}
		e.SetFix(f)
		return e
	}
	e := a.pathErr("mkdir", "create the Maildir", pathOf(err, dir), err, setting)
	if f := e.Found; f != nil && f.Path == filepath.Clean(dir) && setting != nil && setting.User != "" &&
		f.UID != setting.MailUser().UID && e.Fix != nil && len(e.Fix.Steps) == 1 && strings.HasPrefix(e.Fix.Steps[0].Run, "chown ") {
		if _, serr := os.Stat(filepath.Join(dir, "cur")); errors.Is(serr, os.ErrPermission) {
			// The mail user cannot even look into this Maildir, which
			// someone else owns (copied in as root): what is inside is
			// most likely theirs too, and the Maildir is the mailbox's
			// alone: one chown -R, not a round of delivery per directory.
			check := e.Fix.Check
			e.SetFix(diag.ChownTree(dir, setting.MailUser(), setting).AndCheck(check))
		}
	}
	return e
}
