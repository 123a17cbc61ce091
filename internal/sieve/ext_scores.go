package sieve

import "strconv"

// RFC 5235: spamtest, spamtestplus (:percent) and virustest. The scores
// come from the caller (Runtime), which runs the scanners.

func init() {
	register(&spec{name: "spamtest", ext: "spamtest", test: true,
		tags: append(append([]tagDef{}, matchTags...), tagDef{name: "percent", ext: "spamtestplus"}),
		pos:  []posDef{{"value", argString}}, buildTest: buildScore("spam")})
	register(&spec{name: "virustest", ext: "virustest", test: true, tags: matchTags,
		pos: []posDef{{"value", argString}}, buildTest: buildScore("virus")})
}

type scoreTest struct {
	kind    string
	percent bool
	m       *matcher
}

func buildScore(kind string) func(c *compiler, n *node, a *args) test {
	return func(c *compiler, n *node, a *args) test {
		t := &scoreTest{kind: kind, percent: a.has("percent")}
		t.m = c.compileMatcher(n, a, a.pos[0])
		if t.m == nil {
			return nil
		}
		return t
	}
}

func (t *scoreTest) eval(r *run) (bool, error) {
	var v int
	switch {
	case t.kind == "virus":
		v = clamp(r.rt.VirusScore, 0, 5)
	case t.percent:
		v = clamp(r.rt.SpamPercent, 0, 100)
	default:
		v = clamp(r.rt.SpamScore, 0, 10)
	}
	s := strconv.Itoa(v)
	r.tracef("%stest: value %s", t.kind, s)
	return t.m.match(r, []string{s})
}

func clamp(v, lo, hi int) int {
	return max(lo, min(v, hi))
}
