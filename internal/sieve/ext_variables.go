package sieve

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// RFC 5229: variables — set, ${...} expansion (strings.go) and the string
// test.

// registerVariables adds the specs of this file (registerAll).
func registerVariables() {
	register(&spec{name: "set", ext: "variables", tags: []tagDef{
		{name: "lower", group: "case"}, {name: "upper", group: "case"},
		{name: "lowerfirst", group: "first"}, {name: "upperfirst", group: "first"},
		{name: "quotewildcard", group: "quotewildcard"}, {name: "quoteregex", group: "quoteregex", ext: "regex"},
		{name: "length", group: "length"}, {name: "encodeurl", group: "encodeurl", ext: "enotify"},
	}, pos: []posDef{{"name", argString}, {"value", argString}}, buildCmd: buildSet})
	register(&spec{name: "string", ext: "variables", test: true, tags: matchTags,
		pos: []posDef{{"source", argList}, {"key list", argList}}, buildTest: buildString})
}

type setCmd struct {
	name   string
	global bool
	value  str
	mods   []string // applied in RFC 5229 §4.1 precedence order
	pos    Pos
}

// modifier precedence (RFC 5229 §4.1): 40 lower/upper, 30 lowerfirst/
// upperfirst, 20 quotewildcard/quoteregex, 10 length. Higher first.
var modPrecedence = map[string]int{"lower": 40, "upper": 40, "lowerfirst": 30, "upperfirst": 30,
	"quotewildcard": 20, "quoteregex": 20, "length": 10}

func buildSet(c *compiler, n *node, a *args) cmd {
	name := lower(a.pos[0].strs[0])
	s := &setCmd{value: c.compileStr(a.pos[1].strs[0]), pos: n.pos}
	segs := strings.Split(name, ".")
	switch {
	case len(segs) == 1 && validIdent(name):
		s.name, s.global = name, c.globals[name]
	case len(segs) == 2 && segs[0] == "global" && c.has("include") && validIdent(segs[1]):
		s.name, s.global = segs[1], true
	default:
		c.errorf(a.pos[0].pos, "invalid variable name '%s' for the set command", a.pos[0].strs[0])
		return nil
	}
	for tag := range a.tags {
		s.mods = append(s.mods, tag)
	}
	// Sort by precedence, highest first.
	for i := 1; i < len(s.mods); i++ {
		for j := i; j > 0 && modPrecedence[s.mods[j]] > modPrecedence[s.mods[j-1]]; j-- {
			s.mods[j], s.mods[j-1] = s.mods[j-1], s.mods[j]
		}
	}
	return s
}

func (s *setCmd) exec(r *run) error {
	r.pos = s.pos
	v := r.expand(&s.value)
	for _, m := range s.mods {
		v = applyModifier(m, v)
	}
	r.tracef("set command: %s = \"%s\"", s.name, v)
	return r.setVar(s.name, s.global, v)
}

// applyModifier applies one set modifier. Case changes are ASCII-only, as
// in Pigeonhole ("élan" :upper is "éLAN").
func applyModifier(m, v string) string {
	switch m {
	case "lower":
		return asciiMap(v, false)
	case "upper":
		return asciiMap(v, true)
	case "lowerfirst", "upperfirst":
		if v == "" {
			return v
		}
		return asciiMap(v[:1], m == "upperfirst") + v[1:]
	case "quotewildcard":
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '*' || v[i] == '?' || v[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(v[i])
		}
		return b.String()
	case "quoteregex":
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if strings.IndexByte(`\^$.[]|()*+?{}`, v[i]) >= 0 {
				b.WriteByte('\\')
			}
			b.WriteByte(v[i])
		}
		return b.String()
	case "length":
		return strconv.Itoa(utf8.RuneCountInString(v))
	}
	return v
}

func (r *run) getVar(name string, global bool) string {
	if global {
		return r.globals[name]
	}
	return r.local[name]
}

func (r *run) setVar(name string, global bool, v string) error {
	lim := r.s.limits
	if len(v) > lim.MaxVariableSize {
		// Pigeonhole truncates values at its size limit; so do we, at a
		// UTF-8 boundary.
		cut := lim.MaxVariableSize
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut--
		}
		v = v[:cut]
	}
	scope := r.local
	if global {
		scope = r.globals
	}
	if _, ok := scope[name]; !ok && len(scope) >= lim.MaxVariables {
		return r.limitErr("MaxVariables", "too many variables (more than "+strconv.Itoa(lim.MaxVariables)+")")
	}
	scope[name] = v
	return nil
}

type stringTest struct {
	source []str
	m      *matcher
}

func buildString(c *compiler, n *node, a *args) test {
	t := &stringTest{source: c.compileList(a.pos[0])}
	// Pigeonhole's string test defaults to i;octet (tst-string.c), not to
	// RFC 5228's i;ascii-casemap; scripts written for it rely on that.
	t.m = c.compileMatcherDefault(n, a, a.pos[1], cmpOctet)
	if t.m == nil {
		return nil
	}
	return t
}

func (t *stringTest) eval(r *run) (bool, error) {
	vals := r.expandList(t.source)
	if t.m.mt == mCount {
		// RFC 5229 §5: empty strings are not counted.
		n := vals[:0:0]
		for _, v := range vals {
			if v != "" {
				n = append(n, v)
			}
		}
		vals = n
	}
	return t.m.match(r, vals)
}

func asciiMap(s string, upper bool) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case upper && c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		case !upper && c >= 'A' && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}
