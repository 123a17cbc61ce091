package sieve

import (
	"regexp"
	"strconv"
	"strings"
)

// comparator is one of the RFC 4790 comparators Sieve uses.
type comparator int

const (
	cmpCasemap comparator = iota // i;ascii-casemap, the default (RFC 5228 §2.7.3)
	cmpOctet                     // i;octet
	cmpNumeric                   // i;ascii-numeric (RFC 4790 §9.1)
)

var comparatorNames = map[string]comparator{
	"i;ascii-casemap": cmpCasemap,
	"i;octet":         cmpOctet,
	"i;ascii-numeric": cmpNumeric,
}

type matchType int

const (
	mIs matchType = iota
	mContains
	mMatches
	mRegex
	mCount
	mValue
)

// matcher is the compiled combination of comparator, match type and keys
// shared by every test that compares strings (RFC 5228 §2.7).
type matcher struct {
	cmp  comparator
	mt   matchType
	rel  string // relational operator for :count/:value (RFC 5231)
	keys []str
	// regexes are precompiled when the keys are constant.
	regexes []*regexp.Regexp
	// setsMatch: :matches/:regex fill the match variables (RFC 5229 §3.2)
	setsMatch bool
	maxRegex  int
}

var matchTags = []tagDef{
	{name: "is", group: "match"},
	{name: "contains", group: "match"},
	{name: "matches", group: "match"},
	{name: "regex", group: "match", ext: "regex"},
	{name: "count", group: "match", ext: "relational", val: argString},
	{name: "value", group: "match", ext: "relational", val: argString},
	{name: "comparator", group: "comparator", val: argString},
}

var relOps = map[string]bool{"gt": true, "ge": true, "lt": true, "le": true, "eq": true, "ne": true}

// compileMatcher builds a matcher from validated tags and the key list.
func (c *compiler) compileMatcher(n *node, a *args, keys *arg) *matcher {
	return c.compileMatcherDefault(n, a, keys, cmpCasemap)
}

// compileMatcherDefault is compileMatcher with another default comparator.
func (c *compiler) compileMatcherDefault(n *node, a *args, keys *arg, def comparator) *matcher {
	m := &matcher{cmp: def, maxRegex: c.g.script.limits.MaxRegexLen}
	if ca, ok := a.tags["comparator"]; ok {
		name := lower(ca.strs[0])
		cmp, known := comparatorNames[name]
		if !known {
			c.errorf(ca.pos, "unknown comparator '%s'", ca.strs[0])
			return nil
		}
		if cmp == cmpNumeric && !c.has("comparator-i;ascii-numeric") {
			c.errorf(ca.pos, "the comparator 'i;ascii-numeric' requires the comparator-i;ascii-numeric extension (require \"comparator-i;ascii-numeric\";)")
			return nil
		}
		m.cmp = cmp
	}
	switch a.group["match"] {
	case "contains":
		m.mt = mContains
	case "matches":
		m.mt = mMatches
		m.setsMatch = c.has("variables")
	case "regex":
		m.mt = mRegex
		m.setsMatch = c.has("variables")
	case "count", "value":
		if a.group["match"] == "count" {
			m.mt = mCount
		} else {
			m.mt = mValue
		}
		op := lower(a.tags[a.group["match"]].strs[0])
		if !relOps[op] {
			c.errorf(a.tags[a.group["match"]].pos, "invalid relational match '%s' (expected one of gt, ge, lt, le, eq, ne)", a.tags[a.group["match"]].strs[0])
			return nil
		}
		m.rel = op
	}
	if m.cmp == cmpNumeric && (m.mt == mContains || m.mt == mMatches || m.mt == mRegex) {
		c.errorf(n.pos, "the specified :%s match type is not supported by the i;ascii-numeric comparator", a.group["match"])
		return nil
	}
	if keys != nil {
		m.keys = c.compileList(keys)
		if m.mt == mRegex {
			for i := range m.keys {
				if !m.keys[i].isConst() {
					m.regexes = nil
					break
				}
				re, err := compileRegex(m.keys[i].lit, m.cmp, m.maxRegex)
				if err != nil {
					c.errorf(keys.pos, "invalid regular expression '%s' for regex match: %v", m.keys[i].lit, err)
					return nil
				}
				m.regexes = append(m.regexes, re)
			}
		}
	}
	return m
}

// match compares values against the keys. For :count the caller passes all
// values and the count is compared. It returns true at the first match and
// sets the match variables for :matches and :regex.
func (m *matcher) match(r *run, values []string) (bool, error) {
	if m.mt == mCount {
		return m.matchCount(r, len(values))
	}
	keys := m.keys
	for _, v := range values {
		for i := range keys {
			key := r.expand(&keys[i])
			// Charge for the work: :matches is O(len(value)*len(key)).
			cost := 1 + int64(len(v))/256
			if m.mt == mMatches {
				cost = 1 + int64(len(v))*int64(len(key))/1024
			}
			if err := r.step(cost); err != nil {
				return false, err
			}
			ok, caps, err := m.one(r, i, v, key)
			if err != nil {
				return false, err
			}
			if r.trace != nil {
				r.tracef("  matching value '%s' with key '%s' => %v", v, key, ok)
			}
			if ok {
				if m.setsMatch && caps != nil {
					r.match = caps
				}
				return true, nil
			}
		}
	}
	return false, nil
}

func (m *matcher) matchCount(r *run, n int) (bool, error) {
	cnt := strconv.Itoa(n)
	for i := range m.keys {
		if err := r.step(1); err != nil {
			return false, err
		}
		key := r.expand(&m.keys[i])
		ok := relate(m.rel, compareValues(m.cmp, cnt, key))
		if r.trace != nil {
			r.tracef("  count %s %s '%s' => %v", cnt, m.rel, key, ok)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// one matches one value against one key.
func (m *matcher) one(r *run, idx int, v, key string) (bool, []string, error) {
	switch m.mt {
	case mIs:
		return equalValues(m.cmp, v, key), nil, nil
	case mContains:
		if m.cmp == cmpOctet {
			return strings.Contains(v, key), nil, nil
		}
		return containsFold(v, key), nil, nil
	case mMatches:
		if !m.setsMatch {
			return globMatch(key, v, m.cmp != cmpOctet, nil), nil, nil
		}
		caps := []string{}
		ok := globMatch(key, v, m.cmp != cmpOctet, &caps)
		return ok, caps, nil
	case mRegex:
		var re *regexp.Regexp
		if m.regexes != nil {
			re = m.regexes[idx]
		} else {
			var err error
			re, err = r.regex(key, m.cmp, m.maxRegex)
			if err != nil {
				// Pigeonhole logs a bad runtime regex and treats the key
				// as not matching; the script goes on.
				r.tracef("  invalid regular expression '%s' for regex match: %v", key, err)
				return false, nil, nil
			}
		}
		if !m.setsMatch {
			return re.MatchString(v), nil, nil
		}
		sub := re.FindStringSubmatch(v)
		if sub == nil {
			return false, nil, nil
		}
		return true, sub, nil
	case mValue:
		return relate(m.rel, compareValues(m.cmp, v, key)), nil, nil
	}
	return false, nil, nil
}

func relate(op string, c int) bool {
	switch op {
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	}
	return false
}

func foldByte(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func equalValues(cmp comparator, a, b string) bool {
	switch cmp {
	case cmpOctet:
		return a == b
	case cmpNumeric:
		return compareNumeric(a, b) == 0
	}
	return asciiEqualFold(a, b)
}

// asciiEqualFold folds ASCII only: strings.EqualFold also folds Unicode,
// which i;ascii-casemap must not.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if foldByte(a[i]) != foldByte(b[i]) {
			return false
		}
	}
	return true
}

func containsFold(s, sub string) bool {
	if sub == "" {
		return true
	}
	n := len(sub)
	f := foldByte(sub[0])
	for i := 0; i+n <= len(s); i++ {
		if foldByte(s[i]) == f && asciiEqualFold(s[i:i+n], sub) {
			return true
		}
	}
	return false
}

// compareValues orders two values under a comparator (RFC 4790).
func compareValues(cmp comparator, a, b string) int {
	switch cmp {
	case cmpNumeric:
		return compareNumeric(a, b)
	case cmpOctet:
		return strings.Compare(a, b)
	}
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := foldByte(a[i]), foldByte(b[i])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// compareNumeric implements i;ascii-numeric: the leading digits are the
// value; a string without leading digits is positive infinity (RFC 4790 §9.1).
func compareNumeric(a, b string) int {
	da, db := leadingDigits(a), leadingDigits(b)
	switch {
	case da == "" && db == "":
		return 0
	case da == "":
		return 1
	case db == "":
		return -1
	}
	da = strings.TrimLeft(da, "0")
	db = strings.TrimLeft(db, "0")
	if len(da) != len(db) {
		if len(da) < len(db) {
			return -1
		}
		return 1
	}
	return strings.Compare(da, db)
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i]
}

// globMatch matches s against a :matches pattern: "*" is any sequence, "?"
// one octet, "\" quotes the next character (RFC 5228 §2.7.1). It fills
// caps with ${0} (the whole value) and one entry per wildcard. Earlier
// wildcards match as little as possible, which gives RFC 5229 §3.2's
// example results. It runs in O(len(pattern)*len(s)).
func globMatch(pat, s string, fold bool, caps *[]string) bool {
	type tok struct {
		kind byte // '*', '?', or 'l' for a literal byte
		c    byte
		w    int
	}
	var tokBuf [48]tok
	toks := tokBuf[:0]
	nw := 0
	for i := 0; i < len(pat); i++ {
		switch pat[i] {
		case '*':
			// Adjacent stars each get a capture but match as one.
			toks = append(toks, tok{kind: '*', w: nw})
			nw++
		case '?':
			toks = append(toks, tok{kind: '?', w: nw})
			nw++
		case '\\':
			if i+1 < len(pat) {
				i++
			}
			toks = append(toks, tok{kind: 'l', c: pat[i]})
		default:
			toks = append(toks, tok{kind: 'l', c: pat[i]})
		}
	}
	var sBuf, eBuf [12]int
	var start, end []int
	if nw <= len(sBuf) {
		start, end = sBuf[:nw], eBuf[:nw]
	} else {
		start, end = make([]int, nw), make([]int, nw)
	}
	p, i := 0, 0
	starP, starI := -1, -1
	for i < len(s) || p < len(toks) {
		if p < len(toks) {
			t := toks[p]
			switch t.kind {
			case '*':
				starP, starI = p, i
				start[t.w], end[t.w] = i, i
				p++
				continue
			case '?':
				// One octet, as Pigeonhole matches (RFC 4790 comparators
				// work on octets).
				if i < len(s) {
					start[t.w], end[t.w] = i, i+1
					i++
					p++
					continue
				}
			default:
				if i < len(s) && (s[i] == t.c || fold && foldByte(s[i]) == foldByte(t.c)) {
					i++
					p++
					continue
				}
			}
		}
		if starP >= 0 && starI < len(s) {
			starI++
			end[toks[starP].w] = starI
			p, i = starP+1, starI
			continue
		}
		return false
	}
	if caps != nil {
		out := make([]string, nw+1)
		out[0] = s
		for k := 0; k < nw; k++ {
			out[k+1] = s[start[k]:end[k]]
		}
		*caps = out
	}
	return true
}

// compileRegex compiles a :regex key. Pigeonhole uses POSIX extended regular
// expressions (regcomp REG_EXTENDED, REG_ICASE for i;ascii-casemap). Go's
// RE2 syntax covers what real scripts use; it is compiled with leftmost-longest
// semantics so submatches agree with regexec(3). Gaps, documented:
// back-references (\1) do not exist in RE2 and are a compile error; collating
// elements [[.a.]] and equivalence classes [[=a=]] are not supported; "\"
// before an ordinary letter is a literal in POSIX but an escape in RE2 (\d, \w,
// \s, \b are accepted here and unknown to POSIX ERE); RE2 has no exponential
// backtracking, so the regex cost limit is the pattern length (MaxRegexLen)
// plus the step count.
func compileRegex(pat string, cmp comparator, maxLen int) (*regexp.Regexp, error) {
	if len(pat) > maxLen {
		return nil, &limitError{msg: "regular expression is longer than " + strconv.Itoa(maxLen) + " bytes"}
	}
	if cmp != cmpOctet {
		pat = "(?i)" + pat
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, err
	}
	re.Longest()
	return re, nil
}

type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

// regex compiles a key that holds variables, once per run and key.
func (r *run) regex(key string, cmp comparator, maxLen int) (*regexp.Regexp, error) {
	ck := strconv.Itoa(int(cmp)) + key
	if re, ok := r.regexCache[ck]; ok {
		return re, nil
	}
	re, err := compileRegex(key, cmp, maxLen)
	if err != nil {
		return nil, err
	}
	if r.regexCache == nil {
		r.regexCache = map[string]*regexp.Regexp{}
	}
	r.regexCache[ck] = re
	return re, nil
}
