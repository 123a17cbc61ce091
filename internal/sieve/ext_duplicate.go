package sieve

import (
	"strings"
	"time"
)

// RFC 7352: the duplicate test.

// registerDuplicate adds the specs of this file (registerAll).
func registerDuplicate() {
	register(&spec{name: "duplicate", ext: "duplicate", test: true, tags: []tagDef{
		{name: "handle", val: argString},
		{name: "header", group: "id", val: argString},
		{name: "uniqueid", group: "id", val: argString},
		{name: "seconds", val: argNumber},
		{name: "last"},
	}, buildTest: buildDuplicate})
}

// DefaultDuplicatePeriod is Pigeonhole's default duplicate period.
const DefaultDuplicatePeriod = 14 * 24 * time.Hour

type duplicateTest struct {
	handle   *str
	header   *str
	uniqueid *str
	period   time.Duration
	last     bool
}

func buildDuplicate(c *compiler, n *node, a *args) test {
	t := &duplicateTest{period: DefaultDuplicatePeriod, last: a.has("last")}
	opt := func(tag string) *str {
		if x, ok := a.tags[tag]; ok {
			s := c.compileStr(x.strs[0])
			return &s
		}
		return nil
	}
	t.handle, t.header, t.uniqueid = opt("handle"), opt("header"), opt("uniqueid")
	if t.header != nil && t.header.isConst() && !validHeaderName(t.header.lit) {
		c.errorf(a.tags["header"].pos, "specified header field name '%s' is invalid", t.header.lit)
		return nil
	}
	if s, ok := a.tags["seconds"]; ok {
		t.period = time.Duration(min(s.num, int64(1<<33))) * time.Second
	}
	return t
}

func (t *duplicateTest) eval(r *run) (bool, error) {
	var id string
	switch {
	case t.uniqueid != nil:
		id = r.expand(t.uniqueid)
	default:
		name := "message-id"
		if t.header != nil {
			name = r.expand(t.header)
		}
		vals := r.headerValues(name)
		if len(vals) == 0 {
			// RFC 7352 §3.1: no id, no duplicate.
			return false, nil
		}
		id = strings.TrimSpace(vals[0])
	}
	handle := ""
	if t.handle != nil {
		handle = r.expand(t.handle)
	}
	seen := false
	if r.rt.Duplicate != nil {
		var err error
		seen, err = r.rt.Duplicate.Seen(r.ctx, handle, id, t.period)
		if err != nil {
			return false, &RuntimeError{Script: r.script, Pos: r.pos, Msg: "duplicate tracking failed", Err: err}
		}
	}
	if !seen || t.last {
		r.res.DuplicateMarks = append(r.res.DuplicateMarks, DuplicateMark{Handle: handle, ID: id, Period: t.period, Last: t.last})
	}
	r.tracef("  duplicate id %q => %v", id, seen)
	return seen, nil
}
