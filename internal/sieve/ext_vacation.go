package sieve

import (
	"strings"
	"time"
)

// RFC 5230 vacation and RFC 6131 vacation-seconds.

// registerVacation adds the specs of this file (registerAll).
func registerVacation() {
	register(&spec{name: "vacation", ext: "vacation", tags: []tagDef{
		{name: "days", group: "period", val: argNumber},
		{name: "seconds", group: "period", ext: "vacation-seconds", val: argNumber},
		{name: "subject", val: argString},
		{name: "from", val: argString},
		{name: "addresses", val: argList},
		{name: "mime"},
		{name: "handle", val: argString},
	}, pos: []posDef{{"reason", argString}}, buildCmd: buildVacation})
}

type vacationCmd struct {
	seconds   int64
	subject   *str
	from      *str
	addresses []str
	mime      bool
	handle    *str
	reason    str
	pos       Pos
}

func buildVacation(c *compiler, n *node, a *args) cmd {
	o := c.g.script.opts
	minP, maxP, defP := o.VacationMinPeriod, o.VacationMaxPeriod, o.VacationDefaultPeriod
	if minP == 0 {
		minP = 24 * time.Hour
	}
	if defP == 0 {
		defP = 7 * 24 * time.Hour
	}
	v := &vacationCmd{reason: c.compileStr(a.pos[0].strs[0]), mime: a.has("mime"), pos: n.pos,
		seconds: int64(defP / time.Second)}
	if d, ok := a.tags["days"]; ok {
		v.seconds = d.num * 86400
		if d.num > 1<<40 {
			v.seconds = 1 << 56
		}
	}
	if s, ok := a.tags["seconds"]; ok {
		v.seconds = s.num
	}
	if a.group["period"] != "" {
		if v.seconds < int64(minP/time.Second) {
			v.seconds = int64(minP / time.Second)
		}
		if maxP > 0 && v.seconds > int64(maxP/time.Second) {
			v.seconds = int64(maxP / time.Second)
		}
	}
	opt := func(tag string) *str {
		if x, ok := a.tags[tag]; ok {
			s := c.compileStr(x.strs[0])
			return &s
		}
		return nil
	}
	v.subject, v.from, v.handle = opt("subject"), opt("from"), opt("handle")
	if x, ok := a.tags["addresses"]; ok {
		v.addresses = c.compileList(x)
	}
	if v.from != nil && v.from.isConst() {
		if _, ok := normalizeRedirect(v.from.lit); !ok {
			c.errorf(a.tags["from"].pos, "specified :from address '%s' is invalid for the vacation action", v.from.lit)
			return nil
		}
	}
	return v
}

func (v *vacationCmd) exec(r *run) error {
	r.pos = v.pos
	if r.vacation {
		return r.errf("duplicate vacation action not allowed")
	}
	if r.rejected {
		return r.errf("vacation action conflicts with other action: the reject action (RFC 5429 §2.3)")
	}
	act := Vacation{To: r.env.From, Reason: r.expand(&v.reason), Seconds: v.seconds, Mime: v.mime}
	if v.subject != nil {
		act.Subject = r.expand(v.subject)
	}
	if v.from != nil {
		act.From = r.expand(v.from)
	}
	act.Addresses = r.expandList(v.addresses)
	if v.handle != nil {
		act.Handle = r.expand(v.handle)
	} else {
		// Pigeonhole's default handle: reason, subject, from and the mime
		// flag, so that a changed response is sent again.
		var b strings.Builder
		b.WriteString(act.Reason)
		if v.subject != nil {
			b.WriteString(act.Subject)
		} else {
			b.WriteString("<default-subject>")
		}
		if v.from != nil {
			b.WriteString(act.From)
		} else {
			b.WriteString("<default-from>")
		}
		if v.mime {
			b.WriteString("<MIME>")
		} else {
			b.WriteString("<NO-MIME>")
		}
		act.Handle = b.String()
	}
	skip, err := r.vacationSkip(&act)
	if err != nil {
		return err
	}
	act.Skip = skip
	r.vacation = true
	r.tracef("vacation action (skip=%q)", skip)
	return r.addAction(act)
}

// vacationSkip applies RFC 5230 §4.5 and RFC 3834 §2: no response to the
// null sender, to automatic or list mail, to mail not addressed to the
// user, or to a sender answered within the period.
func (r *run) vacationSkip(act *Vacation) (string, error) {
	sender := strings.Trim(r.env.From, "<>")
	if sender == "" {
		return "null sender", nil
	}
	local := lower(sender)
	if at := strings.LastIndexByte(local, '@'); at >= 0 {
		local = local[:at]
	}
	if local == "mailer-daemon" || local == "postmaster" || strings.HasPrefix(local, "owner-") ||
		strings.HasSuffix(local, "-request") || strings.HasPrefix(local, "listserv") || local == "majordomo" {
		return "system address", nil
	}
	for _, v := range r.headerValues("auto-submitted") {
		if !strings.EqualFold(strings.TrimSpace(strings.SplitN(v, ";", 2)[0]), "no") {
			return "auto-submitted", nil
		}
	}
	for _, h := range []string{"list-id", "list-owner", "list-unsubscribe", "list-post", "list-help", "list-subscribe"} {
		if len(r.headerValues(h)) > 0 {
			return "mailing list", nil
		}
	}
	for _, v := range r.headerValues("precedence") {
		switch lower(strings.TrimSpace(v)) {
		case "bulk", "list", "junk":
			return "mailing list", nil
		}
	}
	mine := append([]string{r.env.To}, act.Addresses...)
	mine = append(mine, r.rt.UserAddresses...)
	addressed := false
	for _, h := range []string{"to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"} {
		for _, hv := range r.headerValues(h) {
			for _, ad := range parseAddressList(hv) {
				for _, m := range mine {
					if m != "" && sameUser(ad.local+"@"+ad.domain, strings.Trim(m, "<>"), r.s.sepa) {
						addressed = true
					}
				}
			}
		}
	}
	if !addressed {
		return "not addressed to user", nil
	}
	if r.rt.Vacation != nil {
		done, err := r.rt.Vacation.Answered(r.ctx, act.Handle, sender, time.Duration(act.Seconds)*time.Second)
		if err != nil {
			return "", &RuntimeError{Script: r.script, Pos: r.pos, Msg: "vacation store failed", Err: err}
		}
		if done {
			return "already answered", nil
		}
	}
	return "", nil
}

// sameUser compares addresses without case and without a subaddress
// detail, so mail to bob+lists@ counts as addressed to bob@.
func sameUser(a, b, sep string) bool {
	strip := func(s string) string {
		s = lower(s)
		at := strings.LastIndexByte(s, '@')
		if at < 0 {
			return s
		}
		local := s[:at]
		if i := strings.Index(local, sep); sep != "" && i >= 0 {
			local = local[:i]
		}
		return local + s[at:]
	}
	return strip(a) == strip(b)
}
