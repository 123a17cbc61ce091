package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/maildir"
	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/resolve"
	"github.com/ebbmail/ebb/internal/safeio"
)

// Refusal is the permanent failure that delivering a message of size
// bytes to res would meet, or nil: a disabled mailbox, a mailbox whose
// local part can never name a Maildir under mail.maildir, or the quota. It
// is the check targets makes before each delivery, with the same error, so
// that the SMTP server can ask it at RCPT (size is MAIL FROM's SIZE=, 0
// when the client declared none) and again at the end of DATA (size is
// that of the copy the delivery would store, MeasureStaged), and refuse
// (5xx) what would otherwise be accepted and bounced to a sender who is
// usually forged (RFC 5321 §6.2 / RFC 3834: no backscatter).
//
// Every mailbox an address reaches must take the message: delivery fails
// the recipient permanently when one of them refuses it.
//
// The quota (quotaRefusal): a message larger than a mailbox's whole quota
// is refused (552 5.2.2) whatever mail.over_quota says, since no space
// freed can ever make room for it; with mail.over_quota = "permanent", a
// mailbox whose fill leaves no room for size bytes (at least one) is
// refused too: the delivery would bounce it.
func Refusal(cfg *config.Config, res *resolve.Resolution, size int64) *diag.Error {
	return RefusalUnless(cfg, res, size, nil)
}

// RefusalUnless is Refusal that leaves out the quota of a mailbox whose
// own filter may store nothing (filtered(mb): it has Sieve scripts, which
// may discard or redirect the message): at RCPT the message is not there
// for them to run on; the end of DATA judges its quota (SieveRefusal).
func RefusalUnless(cfg *config.Config, res *resolve.Resolution, size int64, filtered func(*resolve.Mailbox) bool) *diag.Error {
	for _, mb := range res.Mailboxes {
		t, e := targetFor(cfg, mb, "ebb serve")
		if e != nil {
			return e
		}
		if filtered != nil && filtered(mb) {
			continue
		}
		if e := quotaRefusal(cfg, t, size); e != nil {
			return e
		}
	}
	return nil
}

// Fresh is res with each mailbox as r's database holds it now (MailboxNow),
// where it can be read: the quota a delivery now would use, not the one
// the resolution cache (directory.cache_ttl) remembers, so that a quota
// raised with ebb user set --quota stops refusing at once, and a lowered
// one refuses at once. res is not changed. A mailbox the directory could
// not read now keeps its cached reading, and stale (when not nil) is told
// its address and why, so that the caller says the quota was decided on
// the cached mailbox (log, metric, record: principle 7); a resolver that
// reads no single mailbox is not a failure.
func Fresh(ctx context.Context, r resolve.Resolver, res *resolve.Resolution, stale func(address string, err error)) *resolve.Resolution {
	c := res.Clone()
	for i, mb := range c.Mailboxes {
		now, err := MailboxNow(ctx, r, mb.Address)
		switch {
		case err == nil:
			c.Mailboxes[i] = now
		case !errors.Is(err, errNoReader) && stale != nil:
			stale(mb.Address, err)
		}
	}
	return c
}

// quotaRefusal is the delivery's own quota decision (maildir.EnforceQuota,
// quotaErr) for size bytes into t, kept only where it is permanent.
func quotaRefusal(cfg *config.Config, t target, size int64) *diag.Error {
	a := &Agent{Cfg: cfg, Component: "ebb serve"}
	q := quotaOf(cfg, t.mb)
	if q.Bytes > 0 && size > q.Bytes {
		// Larger than the whole quota: the delivery would defer it until
		// queue.lifetime (over_quota = "temporary") and bounce it, since
		// no space freed makes room for it. Its usage comes from the same
		// decision, without writing maildirsize.
		_, _, err := maildir.PlanQuota(t.maildir, q, true, size)
		var qe *maildir.QuotaError
		if !errors.As(err, &qe) {
			qe = &maildir.QuotaError{Dir: t.maildir, Quota: q, Add: size} // usage unreadable: the limit alone decides
		}
		e := a.quotaErr(t, qe)
		e.SetFix(tooBigFix(t, qe, "; the sender can then send it again"))
		e.Class, e.Exit = diag.Permanent, diag.ExNoPerm
		e.SMTPCode, e.Enhanced, e.Public = 552, [3]int{5, 2, 2}, "Message larger than the mailbox's quota"
		if t.mb.QuotaBytes > 0 {
			e.Setting = &diag.Setting{Key: "directory quota of " + t.mb.Address, Value: strconv.FormatInt(t.mb.QuotaBytes, 10)}
		} else {
			e.Setting = cfg.Setting("mail.quota")
		}
		return e
	}
	if cfg.Mail.OverQuota == "permanent" {
		err := maildir.EnforceQuota(t.maildir, q, max(size, 1))
		var qe *maildir.QuotaError
		if errors.As(err, &qe) {
			return a.quotaErr(t, err)
		}
	}
	return nil
}

// SizeMatters reports whether the size of a message changes Refusal's
// answer for res: some mailbox it reaches has a byte quota. Without one,
// the end of DATA need not measure the message.
func SizeMatters(cfg *config.Config, res *resolve.Resolution) bool {
	for _, mb := range res.Mailboxes {
		if quotaOf(cfg, mb).Bytes > 0 {
			return true
		}
	}
	return false
}

// StagedSize is the size of the copy the agent would stage from a spool
// file for a recipient (View with env.Recipient set to it: the prefix,
// Delivered-To included, and the message with LF line ends): what each
// store counts against the quota. MeasureStaged reads only the header
// (for the fields the delivery drops or renames: headerDelta) and counts
// each line end of the data as two bytes, as it is in the spool: an upper
// bound, larger than the copy by the CRLF line ends. A quota the bound
// fits, the copy fits too; only where the bound is refused must the copy
// be measured (Exact), which reads the message once. Refusals are rare:
// most messages are never read again at the end of DATA.
type StagedSize struct {
	a     *Agent
	path  string
	env   Envelope // without a recipient
	body  int64    // the copy after the prefix (or its upper bound)
	exact bool
}

// MeasureStaged measures what the agent would stage from the spool file
// at path, whose data is dataSize bytes (queue.Message.Size).
func (a *Agent) MeasureStaged(path string, env Envelope, dataSize int64) (*StagedSize, error) {
	env.Recipient = ""
	s := &StagedSize{a: a, path: path, env: env}
	if dataSize > 0 {
		delta, ok, err := headerDelta(path, env)
		if err != nil {
			return nil, err
		}
		if ok {
			s.body = dataSize + delta
			return s, nil
		}
	}
	return s, s.Exact() // the copy's shape changes: measure it
}

// IsExact reports whether For is the copy's size, not an upper bound.
func (s *StagedSize) IsExact() bool { return s.exact }

// Exact measures the copy itself (the whole message read once through
// View, the delivery's own staging), so that For is exact.
func (s *StagedSize) Exact() error {
	if s.exact {
		return nil
	}
	n, _, err := s.a.View(io.Discard, s.path, s.env)
	if err != nil {
		return err
	}
	s.body, s.exact = n-int64(len(s.a.prefix(s.env))), true
	return nil
}

// For is the size of the copy for recipient (only Delivered-To differs).
func (s *StagedSize) For(recipient string) int64 {
	e := s.env
	e.Recipient = recipient
	return s.body + int64(len(s.a.prefix(e)))
}

// SizeRefusal is Refusal for the copy s measures: the bound decides when
// it is accepted, the exact size (measured then) when it would be refused.
// A copy that cannot be measured is not refused (the delivery will say
// why; this check only refuses): unmeasured says why, for the caller to
// say the check was not made.
func SizeRefusal(cfg *config.Config, res *resolve.Resolution, s *StagedSize, recipient string) (refusal *diag.Error, unmeasured error) {
	e := Refusal(cfg, res, s.For(recipient))
	if e == nil || s.IsExact() {
		return e, nil
	}
	if err := s.Exact(); err != nil {
		return nil, err
	}
	return Refusal(cfg, res, s.For(recipient)), nil
}

// sieveCopy is the copy of one recipient's delivery staged for the
// mailboxes' Sieve scripts (a dry run) where a refusal is about to be
// made: staged once, for every mailbox of the recipient, and measured
// while it is written, so that the message is read once on this path.
type sieveCopy struct {
	s   *StagedSize
	env Envelope // with the recipient
	dir string   // server.data_dir
	msg *Message // the staged file, once staged
}

// stage writes the copy in dir (once) and makes s exact from its size.
func (c *sieveCopy) stage() (*Message, error) {
	if c.msg != nil {
		return c.msg, nil
	}
	p, n, off, err := c.s.a.StageView(c.dir, ".ebb-quota-sieve-*", c.s.path, c.env)
	if err != nil {
		return nil, err
	}
	c.msg = &Message{Path: p, Offset: off, Size: n}
	if !c.s.exact {
		c.s.body, c.s.exact = n-off, true
	}
	return c.msg, nil
}

// exact is StagedSize.Exact, measured by staging the copy (which the
// dry run then reads); where staging fails, by reading it again.
func (c *sieveCopy) exact() error {
	if c.s.exact {
		return nil
	}
	if _, err := c.stage(); err == nil {
		return nil
	}
	return c.s.Exact()
}

// stores reports whether the delivery to mb would store the message at
// all, as f (the mailbox's Sieve scripts, run as a dry run: nothing
// created, sent or remembered) decides on the staged copy: false when
// the scripts discard or only redirect it, true otherwise (a keep, a
// fileinto, a reject — which fails the delivery too —, no decision).
// edited, when the scripts edit the header (editheader), is the size of
// the copy the delivery would store instead of the staged one; else -1.
func (c *sieveCopy) stores(ctx context.Context, f Filter, mb *resolve.Mailbox) (stores bool, edited int64, err error) {
	msg, err := c.stage()
	if err != nil {
		return true, -1, err
	}
	d, err := f.Decide(ctx, mb, msg, c.env)
	if err != nil {
		return true, -1, err
	}
	if d == nil {
		return true, -1, nil
	}
	if d.Reject == "" && len(d.StoresFor(c.env.Folder)) == 0 {
		return false, -1, nil
	}
	if d.Header == nil || d.Reject != "" {
		return true, -1, nil
	}
	n, err := editedSize(msg.Path, msg.Size, d.Header)
	if err != nil {
		return true, -1, fmt.Errorf("measure the copy with the header the scripts edit: %w", err)
	}
	return true, n, nil
}

func (c *sieveCopy) remove() {
	if c.msg != nil {
		os.Remove(c.msg.Path)
	}
}

// SieveRefusal is SizeRefusal for each mailbox res reaches, kept only for
// a mailbox whose Sieve scripts (f, a dry run) would store the message:
// one that a script discards or redirects takes no room, and refusing
// what its delivery would not fail is wrong (principle 4). dir is where
// the copy is staged for the filter (server.data_dir), and only where a
// refusal is about to be made, which is rare: the copy is measured while
// it is staged. A mailbox whose scripts edit the header (editheader) is
// judged by the size of the edited copy, which its delivery stores. The
// bound: the scripts run only where the unedited copy is refused, so a
// copy that fits and that an edit makes larger than the room left is not
// refused here; its delivery then meets the quota (mail.over_quota).
//
// Scripts that cannot be run on the copy (it cannot be staged, the filter
// fails) leave the refusal standing, as if they stored it: unconsulted is
// then why, and the refusal's Reason says so (principle 7: the caller
// logs and counts it). With no refusal, unconsulted is why a mailbox
// could not be judged at all (the copy could not be measured): let
// through, as the delivery will say why, and the caller says the check
// was not made.
func SieveRefusal(ctx context.Context, cfg *config.Config, res *resolve.Resolution, s *StagedSize, recipient string, f Filter, dir string) (refusal *diag.Error, unconsulted error) {
	if f == nil {
		return SizeRefusal(cfg, res, s, recipient)
	}
	env := s.env
	env.Recipient = recipient
	c := &sieveCopy{s: s, env: env, dir: dir}
	defer c.remove()
	var unmeasured error
	for _, mb := range res.Mailboxes {
		one := &resolve.Resolution{Address: res.Address, Mailboxes: []*resolve.Mailbox{mb}}
		e := Refusal(cfg, one, s.For(recipient))
		if e != nil && !s.IsExact() {
			if err := c.exact(); err != nil {
				unmeasured = err // the delivery will say why; this check only refuses
				continue
			}
			e = Refusal(cfg, one, s.For(recipient))
		}
		if e == nil {
			continue
		}
		if _, te := targetFor(cfg, mb, "ebb serve"); te != nil {
			return e, nil // disabled, or no Maildir: refused before any filter runs
		}
		stores, edited, err := c.stores(ctx, f, mb)
		if err == nil && !stores {
			continue
		}
		if err == nil && edited >= 0 {
			// The delivery stores the edited copy: its size decides.
			if e = Refusal(cfg, one, edited); e == nil {
				continue
			}
		}
		if err != nil {
			r := *e
			r.Reason += fmt.Sprintf("; the Sieve scripts of %s could not be run on the message to see whether they store it (%v), so it is refused as if they did",
				mb.Address, err)
			return &r, err
		}
		return e, nil
	}
	return nil, unmeasured
}

// headerDelta is how many bytes the delivery's own filter (untrustedFilter)
// adds to the message at path (renamed verdict fields) or takes from it
// (dropped Authentication-Results): its header read as the delivery reads
// it (LF line ends, mailhdr.Scanner, the same verdicts), the body not at
// all. ok is false where the filter would also change the message's shape
// — an mbox line at its start, a header that ended at a line of text —
// which the queue's Normalise leaves in no spool file; the caller then
// measures the whole copy.
func headerDelta(path string, env Envelope) (delta int64, ok bool, err error) {
	f, err := safeio.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	lf := newLFReader(smallReads{f}) // the header, not a buffer of the body
	defer lf.release()
	br := bufpool.Reader(lf) // filled smallRead bytes at a time
	defer bufpool.PutReader(br)
	if n, err := mailhdr.SkipMboxLine(br); n > 0 || err != nil {
		return 0, false, err
	}
	decide := untrustedVerdict(env)
	s := mailhdr.NewScanner(br)
	for s.Scan() {
		fl := s.Field()
		switch v := decide(fl); {
		case v.Drop:
			var rest countWriter
			if err := s.CopyRest(&rest); err != nil {
				return 0, false, err
			}
			delta -= int64(len(fl.Raw)) + int64(rest)
		case v.Rename != "" && fl.Name != "":
			delta += int64(len(v.Rename) - len(fl.Name))
		}
	}
	if err := s.Err(); err != nil {
		return 0, false, err
	}
	return delta, !s.EndedAtText(), nil
}

// smallReads reads at most smallRead bytes at a time: about a header.
type smallReads struct{ r io.Reader }

const smallRead = 4096

func (s smallReads) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), smallRead)]) }

// countWriter counts what is written to it.
type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// quotaOf is the Maildir++ quota of mb: its own, else mail.quota and
// mail.quota_messages.
func quotaOf(cfg *config.Config, mb *resolve.Mailbox) maildir.Quota {
	q := maildir.Quota{Bytes: int64(cfg.Mail.Quota), Messages: cfg.Mail.QuotaMessages}
	if mb.QuotaBytes > 0 {
		q.Bytes = mb.QuotaBytes
	}
	if mb.QuotaMessages > 0 {
		q.Messages = mb.QuotaMessages
	}
	return q
}

// mailboxProblem returns the Maildir of mb (from the directory, or from
// mail.maildir), or the permanent error that keeps mb from taking mail.
func mailboxProblem(cfg *config.Config, mb *resolve.Mailbox, component string) (maildir string, e *diag.Error) {
	newErr := func(err error) *diag.Error {
		e := diag.New("lookup", "deliver to", mb.Address, err)
		e.Component = component
		e.Class, e.Exit = diag.Permanent, diag.ExNoUser
		return e
	}
	if mb.Maildir != "" {
		maildir = mb.Maildir
	} else {
		p, err := MaildirFor(cfg, mb.Address)
		if err != nil {
			e := newErr(err)
			e.SMTPCode, e.Enhanced, e.Public = 550, [3]int{5, 1, 3}, "Bad mailbox address"
			e.Setting = cfg.Setting("mail.maildir")
			e.Hint = "rename the mailbox (its local part cannot be a directory name), or give it a maildir of its own in the directory"
			return "", e
		}
		maildir = p
	}
	if !mb.Enabled {
		e := newErr(fmt.Errorf("the mailbox is disabled"))
		e.SMTPCode, e.Enhanced, e.Public = 550, [3]int{5, 2, 1}, "Mailbox disabled"
		e.Hint = "enable the mailbox in the directory"
		return maildir, e
	}
	return maildir, nil
}

// LoopRefusal is the mail loop that delivering the message at path to
// recipient (reaching res) would find (RFC 5321 §6.3: it already carries
// one of our own Delivered-To addresses), or nil: the delivery's own loop
// check, run at the end of DATA so that the looping message is refused
// (554 5.4.6) instead of bounced. It reads only the header section. A
// message that cannot be read is not refused (the delivery will say why;
// this check only refuses): unread says why, for the caller to say the
// check was not made.
func LoopRefusal(path, recipient string, res *resolve.Resolution) (refusal *diag.Error, unread error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return LoopRefusalFor(readHeaderView(f).deliveredTos, recipient, res), nil
}

// LoopRefusalFor is LoopRefusal for a message whose Delivered-To values
// are known already (queue.Message.DeliveredTo, read as it was stored):
// the file is not opened again.
func LoopRefusalFor(deliveredTos []string, recipient string, res *resolve.Resolution) *diag.Error {
	a := &Agent{Component: "ebb serve"}
	var ts []target
	for _, mb := range res.Mailboxes {
		ts = append(ts, target{mb: mb})
	}
	return a.loop(Envelope{Recipient: recipient}, ts, deliveredTos)
}
