package sieve

import (
	"strings"
	"unicode/utf8"
)

// Actions of RFC 5228 §4 (keep, discard, redirect), fileinto, reject and
// ereject (RFC 5429), and error (RFC 5463), with Pigeonhole's rules for
// duplicates and conflicts.

type keepCmd struct {
	flags    []str
	hasFlags bool
	pos      Pos
}

func buildKeep(c *compiler, n *node, a *args) cmd {
	k := &keepCmd{pos: n.pos}
	if f, ok := a.tags["flags"]; ok {
		k.flags, k.hasFlags = c.compileList(f), true
	}
	return k
}

func (k *keepCmd) exec(r *run) error {
	r.pos = k.pos
	flags := r.currentFlags()
	if k.hasFlags {
		flags = parseFlagList(r.expandList(k.flags))
	}
	r.tracef("keep action")
	return r.store(Keep{Flags: flags}, "INBOX", false, k.pos)
}

type discardCmd struct{}

func (discardCmd) exec(r *run) error {
	r.tracef("discard action")
	r.cancelled = true
	for _, a := range r.res.Actions {
		if _, ok := a.(Discard); ok {
			return nil
		}
	}
	return r.addAction(Discard{})
}

type fileintoCmd struct {
	mailbox  str
	flags    []str
	hasFlags bool
	copy     bool
	create   bool
	pos      Pos
}

func buildFileinto(c *compiler, n *node, a *args) cmd {
	f := &fileintoCmd{mailbox: c.compileStr(a.pos[0].strs[0]), copy: a.has("copy"), create: a.has("create"), pos: n.pos}
	if fl, ok := a.tags["flags"]; ok {
		f.flags, f.hasFlags = c.compileList(fl), true
	}
	if f.mailbox.isConst() && !validMailboxName(f.mailbox.lit) {
		c.errorf(a.pos[0].pos, "invalid folder name '%s' specified for fileinto command", f.mailbox.lit)
		return nil
	}
	return f
}

// validMailboxName rejects what no mail store can take (RFC 5228 §4.1 leaves
// the syntax to the store). Pigeonhole accepts even "" here; delivery
// decides what an odd name means.
func validMailboxName(s string) bool {
	return !strings.ContainsRune(s, 0) && utf8.ValidString(s)
}

func (f *fileintoCmd) exec(r *run) error {
	r.pos = f.pos
	mbox := r.expand(&f.mailbox)
	if !validMailboxName(mbox) {
		return r.errf("invalid folder name '%s' specified for fileinto command", mbox)
	}
	flags := r.currentFlags()
	if f.hasFlags {
		flags = parseFlagList(r.expandList(f.flags))
	}
	r.tracef("fileinto action: %s", mbox)
	if mbox == "INBOX" && !f.create {
		// fileinto "INBOX" is keep (Pigeonhole reports one store action
		// to INBOX for both).
		return r.store(Keep{Flags: flags, Copy: f.copy}, "INBOX", f.copy, f.pos)
	}
	return r.store(FileInto{Mailbox: mbox, Flags: flags, Copy: f.copy, Create: f.create}, mbox, f.copy, f.pos)
}

// store adds a keep or fileinto, merging duplicates: keep and fileinto
// "INBOX" are the same store action, as in Pigeonhole (RFC 5228 §2.10.3).
func (r *run) store(a Action, mailbox string, copy bool, p Pos) error {
	if err := r.checkDeliverConflict(); err != nil {
		return err
	}
	for i, prev := range r.res.Actions {
		var pm string
		switch x := prev.(type) {
		case Keep:
			pm = "INBOX"
		case FileInto:
			pm = x.Mailbox
		default:
			continue
		}
		if pm == mailbox {
			// A later store of the same mailbox is merged into the earlier
			// one: its flags replace the earlier flags, and :copy and the
			// implicit keep stay as the first one left them, as Pigeonhole's
			// result does (RFC 5228 §2.10.3 leaves the details open).
			switch x := prev.(type) {
			case Keep:
				x.Flags = actionFlags(a)
				r.res.Actions[i] = x
			case FileInto:
				x.Flags = actionFlags(a)
				if fi, ok := a.(FileInto); ok {
					x.Create = x.Create || fi.Create
				}
				r.res.Actions[i] = x
			}
			return nil
		}
	}
	if !copy {
		r.cancelled = true
	}
	return r.addAction(a)
}

func actionFlags(a Action) []string {
	switch x := a.(type) {
	case Keep:
		return x.Flags
	case FileInto:
		return x.Flags
	}
	return nil
}

// mergeFlags returns a with b's flags added (case-insensitively unique).
func mergeFlags(a, b []string) []string {
	if a == nil {
		return b
	}
	out := append([]string{}, a...)
	for _, f := range b {
		if !containsFlag(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// checkDeliverConflict: a delivering action after reject is an error
// (Pigeonhole: "reject/ereject action conflicts with other action").
func (r *run) checkDeliverConflict() error {
	if r.rejected {
		return r.errf("reject/ereject action conflicts with other action: the store or redirect action tries to deliver the message after a reject")
	}
	return nil
}

type redirectCmd struct {
	addr str
	copy bool
	pos  Pos
}

func buildRedirect(c *compiler, n *node, a *args) cmd {
	rc := &redirectCmd{addr: c.compileStr(a.pos[0].strs[0]), copy: a.has("copy"), pos: n.pos}
	if rc.addr.isConst() {
		if _, ok := normalizeRedirect(rc.addr.lit); !ok {
			c.errorf(a.pos[0].pos, "specified redirect address '%s' is invalid", rc.addr.lit)
			return nil
		}
	}
	return rc
}

// normalizeRedirect checks a redirect address (RFC 5228 §4.2: an RFC 5322
// address; a display name and angle brackets are allowed) and returns the
// bare addr-spec.
func normalizeRedirect(s string) (string, bool) {
	addrs := parseAddressList(s)
	if len(addrs) != 1 || !addrs[0].valid {
		return "", false
	}
	a := addrs[0]
	if strings.ContainsAny(a.domain, " \t\r\n<>,;@\"") || strings.ContainsAny(a.local, "\r\n") {
		return "", false
	}
	return quoteLocal(a.local) + "@" + a.domain, true
}

func (rc *redirectCmd) exec(r *run) error {
	r.pos = rc.pos
	raw := r.expand(&rc.addr)
	addr, ok := normalizeRedirect(raw)
	if !ok {
		return r.errf("specified redirect address '%s' is invalid", raw)
	}
	r.tracef("redirect action: %s", addr)
	if err := r.checkDeliverConflict(); err != nil {
		return err
	}
	// Duplicates: the same address (domain compared without case) is
	// redirected once (RFC 5228 §2.10.3).
	// Pigeonhole ignores the duplicate entirely: it neither cancels the
	// implicit keep nor changes :copy of the first.
	for _, prev := range r.res.Actions {
		if x, ok := prev.(Redirect); ok && sameAddress(x.Address, addr) {
			return nil
		}
	}
	r.redirects++
	if r.redirects > r.s.limits.MaxRedirects {
		return r.limitErr("MaxRedirects", "number of redirect actions exceeds policy limit")
	}
	if !rc.copy {
		r.cancelled = true
	}
	return r.addAction(Redirect{Address: addr, Copy: rc.copy})
}

func sameAddress(a, b string) bool {
	ia, ib := strings.LastIndexByte(a, '@'), strings.LastIndexByte(b, '@')
	if ia < 0 || ib < 0 {
		return a == b
	}
	return a[:ia] == b[:ib] && strings.EqualFold(a[ia:], b[ib:])
}

type rejectCmd struct {
	reason   str
	extended bool
	pos      Pos
}

func buildReject(ext bool) func(c *compiler, n *node, a *args) cmd {
	return func(c *compiler, n *node, a *args) cmd {
		return &rejectCmd{reason: c.compileStr(a.pos[0].strs[0]), extended: ext, pos: n.pos}
	}
}

func (rc *rejectCmd) exec(r *run) error {
	r.pos = rc.pos
	if r.rejected {
		return r.errf("duplicate reject/ereject action not allowed")
	}
	for _, a := range r.res.Actions {
		switch a.(type) {
		case Keep, FileInto, Redirect:
			return r.errf("reject/ereject action conflicts with other action: the %s action tries to deliver the message", a.actionName())
		case Vacation:
			// RFC 5429 §2.3: reject MUST be incompatible with vacation.
			return r.errf("reject/ereject action conflicts with other action: the vacation action")
		}
	}
	r.rejected = true
	r.cancelled = true
	reason := r.expand(&rc.reason)
	r.tracef("reject action: %s", reason)
	return r.addAction(Reject{Reason: reason, Extended: rc.extended})
}

type errorCmd struct {
	msg str
	pos Pos
}

func buildError(c *compiler, n *node, a *args) cmd {
	return &errorCmd{msg: c.compileStr(a.pos[0].strs[0]), pos: n.pos}
}

// exec fails the script on purpose (RFC 5463 §5).
func (e *errorCmd) exec(r *run) error {
	r.pos = e.pos
	return r.errf("%s", r.expand(&e.msg))
}
