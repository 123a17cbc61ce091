package sieve

import (
	"math"
	"strconv"
	"strings"
)

// RFC 5235: spamtest, spamtestplus (:percent) and virustest. The scores
// come from the caller (Runtime), which runs the scanners.

// registerScores adds the specs of this file (registerAll).
func registerScores() {
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

// Scores reads spamtest's and virustest's values from the headers ebb's
// scanners write (internal/scan), the way Pigeonhole's
// sieve_spamtest_status_type = score with sieve_spamtest_max_header does:
// the score and the threshold from X-Spam-Status ("score=6.1
// required=5.0"), spam = 1 + 9·score/threshold (1..10), percent =
// 100·score/threshold (0..100); virustest is 1 when X-Ebb-Scan says clamd
// found the message clean (a virus is refused at SMTP, so 5 is never
// delivered). Only headers that follow ebb's own X-Ebb-Scan are trusted:
// the first X-Ebb-Scan (ebb writes it on top) must say the spam scanner
// scanned, else the message's own X-Spam-* could be a sender's forgery.
// Not tested: spam 0, percent -1, virus 0.
func Scores(h []HeaderField) (spam, percent, virus int) {
	spam, percent, virus = 0, -1, 0
	var coverage string
	found := false
	for _, f := range h {
		if strings.EqualFold(f.Name, "X-Ebb-Scan") {
			coverage, found = unfoldValue(f.Value), true
			break
		}
	}
	if !found {
		return
	}
	if strings.Contains(coverage, "clamd=clean") {
		virus = 1
	}
	if !strings.Contains(coverage, "spamd=ham") && !strings.Contains(coverage, "spamd=spam") &&
		!strings.Contains(coverage, "rspamd=ham") && !strings.Contains(coverage, "rspamd=spam") {
		return
	}
	for _, f := range h {
		if !strings.EqualFold(f.Name, "X-Spam-Status") {
			continue
		}
		v := unfoldValue(f.Value)
		score, ok1 := numberAfter(v, "score=")
		req, ok2 := numberAfter(v, "required=")
		if !ok1 || !ok2 || req <= 0 {
			return
		}
		ratio := max(0, min(score/req, 1))
		return 1 + int(math.Round(9*ratio)), int(math.Round(100 * ratio)), virus
	}
	return
}

func unfoldValue(v string) string {
	return strings.Join(strings.Fields(v), " ")
}

func numberAfter(s, key string) (float64, bool) {
	i := strings.Index(s, key)
	if i < 0 {
		return 0, false
	}
	rest := s[i+len(key):]
	j := strings.IndexFunc(rest, func(r rune) bool { return r != '-' && r != '.' && (r < '0' || r > '9') })
	if j >= 0 {
		rest = rest[:j]
	}
	n, err := strconv.ParseFloat(rest, 64)
	return n, err == nil
}
