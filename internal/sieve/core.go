package sieve

import (
	"strings"
)

// Core commands and tests of RFC 5228, plus fileinto, reject/ereject and
// envelope, which are small.

// registerCore adds the specs of this file (registerAll).
func registerCore() {
	register(&spec{name: "stop", buildCmd: func(c *compiler, n *node, a *args) cmd { return stopCmd{} }})
	register(&spec{name: "keep", tags: []tagDef{flagsTag}, buildCmd: buildKeep})
	register(&spec{name: "discard", buildCmd: func(c *compiler, n *node, a *args) cmd { return discardCmd{} }})
	register(&spec{name: "redirect", tags: []tagDef{copyTag}, pos: []posDef{{"address", argString}}, buildCmd: buildRedirect})
	register(&spec{name: "fileinto", ext: "fileinto", tags: []tagDef{copyTag, flagsTag, createTag},
		pos: []posDef{{"folder", argString}}, buildCmd: buildFileinto})
	register(&spec{name: "reject", ext: "reject", pos: []posDef{{"reason", argString}}, buildCmd: buildReject(false)})
	register(&spec{name: "ereject", ext: "ereject", pos: []posDef{{"reason", argString}}, buildCmd: buildReject(true)})
	register(&spec{name: "error", ext: "ihave", pos: []posDef{{"message", argString}}, buildCmd: buildError})

	register(&spec{name: "true", test: true, buildTest: func(c *compiler, n *node, a *args) test { return constTest(true) }})
	register(&spec{name: "false", test: true, buildTest: func(c *compiler, n *node, a *args) test { return constTest(false) }})
	register(&spec{name: "not", test: true, tests: 1, buildTest: func(c *compiler, n *node, a *args) test {
		return notTest{c.test(n.tests[0])}
	}})
	register(&spec{name: "allof", test: true, tests: -1, buildTest: func(c *compiler, n *node, a *args) test {
		return &listTest{all: true, tests: c.tests(n.tests)}
	}})
	register(&spec{name: "anyof", test: true, tests: -1, buildTest: func(c *compiler, n *node, a *args) test {
		return &listTest{all: false, tests: c.tests(n.tests)}
	}})
	register(&spec{name: "exists", test: true, pos: []posDef{{"header names", argList}}, buildTest: buildExists})
	register(&spec{name: "size", test: true, tags: []tagDef{{name: "over", group: "size"}, {name: "under", group: "size"}},
		pos: []posDef{{"limit", argNumber}}, buildTest: buildSize})
	register(&spec{name: "header", test: true, tags: append(append([]tagDef{}, matchTags...), indexTags...),
		pos: []posDef{{"header names", argList}, {"key list", argList}}, buildTest: buildHeader})
	register(&spec{name: "address", test: true, tags: append(append(append([]tagDef{}, matchTags...), addrPartTags...), indexTags...),
		pos: []posDef{{"header list", argList}, {"key list", argList}}, buildTest: buildAddress})
	register(&spec{name: "envelope", ext: "envelope", test: true, tags: append(append([]tagDef{}, matchTags...), addrPartTags...),
		pos: []posDef{{"envelope part", argList}, {"key list", argList}}, buildTest: buildEnvelope})
}

var (
	copyTag   = tagDef{name: "copy", ext: "copy"}
	flagsTag  = tagDef{name: "flags", ext: "imap4flags", val: argList}
	createTag = tagDef{name: "create", ext: "mailbox"}
	indexTags = []tagDef{{name: "index", ext: "index", val: argNumber}, {name: "last", ext: "index"}}
)

func (c *compiler) tests(ns []*node) []test {
	out := make([]test, len(ns))
	for i, n := range ns {
		out[i] = c.test(n)
	}
	return out
}

type stopCmd struct{}

func (stopCmd) exec(r *run) error { return errStop }

type notTest struct{ t test }

func (t notTest) eval(r *run) (bool, error) {
	ok, err := t.t.eval(r)
	return !ok, err
}

type listTest struct {
	all   bool
	tests []test
}

// eval short-circuits, as RFC 5228 §5.1/§5.3 allow and Pigeonhole does.
func (t *listTest) eval(r *run) (bool, error) {
	for _, x := range t.tests {
		if err := r.step(1); err != nil {
			return false, err
		}
		ok, err := x.eval(r)
		if err != nil {
			return false, err
		}
		if ok != t.all {
			return ok, nil
		}
	}
	return t.all, nil
}

// --- tests ---------------------------------------------------------------

type existsTest struct{ names []str }

func buildExists(c *compiler, n *node, a *args) test {
	// An invalid field name is only a warning in Pigeonhole; such a
	// field never exists.
	return &existsTest{names: c.compileList(a.pos[0])}
}

func (t *existsTest) eval(r *run) (bool, error) {
	for i := range t.names {
		name := r.expand(&t.names[i])
		found := false
		for _, f := range r.header() {
			if strings.EqualFold(f.Name, name) {
				found = true
				break
			}
		}
		r.tracef("  header '%s' => %v", name, found)
		if !found {
			return false, nil
		}
	}
	return true, nil
}

type sizeTest struct {
	over  bool
	limit int64
}

func buildSize(c *compiler, n *node, a *args) test {
	switch a.group["size"] {
	case "over":
		return &sizeTest{over: true, limit: a.pos[0].num}
	case "under":
		return &sizeTest{limit: a.pos[0].num}
	}
	c.errorf(n.pos, "the size test requires either the :under or the :over tag")
	return nil
}

func (t *sizeTest) eval(r *run) (bool, error) {
	sz := r.msg.Size()
	if t.over {
		return sz > t.limit, nil
	}
	return sz < t.limit, nil
}

// indexSel is the :index/:last selection of RFC 5260 §6.
type indexSel struct {
	index int64
	last  bool
}

func (c *compiler) indexOf(n *node, a *args) indexSel {
	var s indexSel
	if ia, ok := a.tags["index"]; ok {
		s.index = ia.num
		if s.index < 1 {
			c.errorf(ia.pos, "the :index argument must be a positive number")
		}
	}
	if a.has("last") {
		if s.index == 0 {
			c.errorf(a.tags["last"].pos, "the :last tag requires the :index tag")
		}
		s.last = true
	}
	return s
}

// pick applies :index to a list of field values.
func (s indexSel) pick(vals []string) []string { return pickIndex(s, vals) }

// pickAddrs is pick for address lists (one list per field).
func (s indexSel) pickAddrs(fields [][]mailAddr) [][]mailAddr { return pickIndex(s, fields) }

// pickIndex selects the :index'th field, counting from the end with :last.
func pickIndex[T any](s indexSel, vals []T) []T {
	if s.index == 0 {
		return vals
	}
	i := int(s.index) - 1
	if s.last {
		i = len(vals) - int(s.index)
	}
	if i < 0 || i >= len(vals) {
		return nil
	}
	return vals[i : i+1]
}

type headerTest struct {
	names []str
	m     *matcher
	idx   indexSel
}

func buildHeader(c *compiler, n *node, a *args) test {
	// Invalid field names never match (Pigeonhole only warns).
	t := &headerTest{names: c.compileList(a.pos[0]), idx: c.indexOf(n, a)}
	t.m = c.compileMatcher(n, a, a.pos[1])
	if t.m == nil {
		return nil
	}
	return t
}

func (t *headerTest) eval(r *run) (bool, error) {
	if len(t.names) == 1 {
		return t.m.match(r, t.idx.pick(r.headerValues(r.expand(&t.names[0]))))
	}
	var vals []string
	for i := range t.names {
		vals = append(vals, t.idx.pick(r.headerValues(r.expand(&t.names[i])))...)
	}
	return t.m.match(r, vals)
}

// addressHeaders are the fields the address test accepts (RFC 5228 §5.1
// lists from, to, cc, bcc, sender, resent-from, resent-to; Pigeonhole
// accepts every header RFC 5322 defines with addresses).
var addressHeaders = map[string]bool{
	"from": true, "sender": true, "reply-to": true, "to": true, "cc": true, "bcc": true,
	"resent-from": true, "resent-sender": true, "resent-to": true, "resent-cc": true,
	"resent-bcc": true, "resent-reply-to": true, "return-path": true, "errors-to": true,
	"delivered-to": true, "envelope-to": true, "x-original-to": true, "x-envelope-to": true,
	"x-envelope-from": true, "original-recipient": true, "disposition-notification-to": true,
	"approved": true, "mail-followup-to": true, "mail-reply-to": true, "original-from": true,
}

type addressTest struct {
	names []str
	part  addrPart
	m     *matcher
	idx   indexSel
}

func buildAddress(c *compiler, n *node, a *args) test {
	t := &addressTest{names: c.compileList(a.pos[0]), part: addrPartOf(a), idx: c.indexOf(n, a)}
	for _, s := range t.names {
		if !s.isConst() {
			continue
		}
		if validHeaderName(s.lit) && !addressHeaders[lower(s.lit)] {
			c.errorf(a.pos[0].pos, "specified header '%s' is not known to contain addresses", s.lit)
		}
	}
	t.m = c.compileMatcher(n, a, a.pos[1])
	if t.m == nil {
		return nil
	}
	return t
}

func (t *addressTest) eval(r *run) (bool, error) {
	var buf [4]string
	vals := buf[:0]
	for i := range t.names {
		fields := r.headerAddresses(r.expand(&t.names[i]))
		for _, addrs := range t.idx.pickAddrs(fields) {
			for _, ad := range addrs {
				if p, ok := ad.part(t.part, r.s.sepa); ok {
					vals = append(vals, p)
				}
			}
		}
	}
	return t.m.match(r, vals)
}

type envelopeTest struct {
	parts []str
	part  addrPart
	m     *matcher
}

func buildEnvelope(c *compiler, n *node, a *args) test {
	t := &envelopeTest{parts: c.compileList(a.pos[0]), part: addrPartOf(a)}
	for _, s := range t.parts {
		if s.isConst() {
			switch lower(s.lit) {
			case "from", "to", "auth":
			default:
				c.errorf(a.pos[0].pos, "specified envelope part '%s' is not supported by the envelope test", s.lit)
			}
		}
	}
	t.m = c.compileMatcher(n, a, a.pos[1])
	if t.m == nil {
		return nil
	}
	return t
}

func (t *envelopeTest) eval(r *run) (bool, error) {
	var buf [3]string
	vals := buf[:0]
	for i := range t.parts {
		var v string
		switch lower(r.expand(&t.parts[i])) {
		case "from":
			v = r.env.From
		case "to":
			v = r.env.To
		case "auth":
			if r.env.Auth == "" {
				continue
			}
			v = r.env.Auth
		default:
			continue
		}
		if v == "" {
			// The null reverse-path: every part is "" (RFC 5228 §5.4).
			if t.part == apDetail {
				continue
			}
			vals = append(vals, "")
			continue
		}
		ad := envelopeAddress(strings.Trim(v, "<>"))
		if p, ok := ad.part(t.part, r.s.sepa); ok {
			vals = append(vals, p)
		}
	}
	return t.m.match(r, vals)
}
