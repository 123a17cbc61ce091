package sieve

import "strings"

// RFC 5232: imap4flags — setflag/addflag/removeflag on the internal
// variable or a named variable, the hasflag test, :flags on keep/fileinto.

// registerImap4flags adds the specs of this file (registerAll).
func registerImap4flags() {
	for _, name := range []string{"setflag", "addflag", "removeflag"} {
		register(&spec{name: name, ext: "imap4flags", pos: []posDef{{"variable name or list of flags", argList}, {"list of flags", argList}},
			min: 1, buildCmd: buildFlagCmd})
	}
	register(&spec{name: "hasflag", ext: "imap4flags", test: true, tags: matchTags,
		pos: []posDef{{"variable list", argList}, {"list of flags", argList}}, min: 1, buildTest: buildHasflag})
}

// parseFlagList splits flag strings at spaces and removes duplicates
// (RFC 5232 §3: a flag list is space separated; case-insensitive duplicates
// are dropped). Invalid flags are ignored, as Pigeonhole does ("IMAP flag
// ... is invalid and will be ignored").
func parseFlagList(list []string) []string {
	out := []string{}
	for _, s := range list {
		for _, f := range strings.Fields(s) {
			if validFlag(f) && !containsFlag(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// validFlag: a system flag a script may set (RFC 3501 §2.3.2; \Recent is
// the server's) or a keyword atom.
func validFlag(f string) bool {
	if f[0] == '\\' {
		switch lower(f) {
		case "\\seen", "\\answered", "\\flagged", "\\deleted", "\\draft":
			return true
		}
		return false
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("(){%*\"\\]", c) >= 0 {
			return false
		}
	}
	return true
}

func containsFlag(list []string, f string) bool {
	for _, x := range list {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}

type flagCmd struct {
	op      string
	varName string // "" for the internal variable
	global  bool
	flags   []str
	pos     Pos
}

func buildFlagCmd(c *compiler, n *node, a *args) cmd {
	f := &flagCmd{op: n.name, pos: n.pos}
	switch len(a.pos) {
	case 1:
		f.flags = c.compileList(a.pos[0])
	case 2:
		if a.pos[0].kind != argString {
			c.errorf(a.pos[0].pos, "the %s command expects a string as variable name argument, but found a string list", n.name)
			return nil
		}
		if !c.has("variables") {
			c.errorf(a.pos[0].pos, "the %s command takes a variable name only with the variables extension", n.name)
			return nil
		}
		name := lower(a.pos[0].strs[0])
		if !validIdent(name) {
			c.errorf(a.pos[0].pos, "invalid variable name '%s'", a.pos[0].strs[0])
			return nil
		}
		f.varName, f.global = name, c.globals[name]
		f.flags = c.compileList(a.pos[1])
	}
	return f
}

func (f *flagCmd) exec(r *run) error {
	r.pos = f.pos
	flags := parseFlagList(r.expandList(f.flags))
	var cur []string
	if f.varName == "" {
		cur = r.flags
	} else {
		cur = parseFlagList([]string{r.getVar(f.varName, f.global)})
	}
	var next []string
	switch f.op {
	case "setflag":
		next = flags
	case "addflag":
		next = mergeFlags(append([]string{}, cur...), flags)
	case "removeflag":
		next = []string{}
		for _, x := range cur {
			if !containsFlag(flags, x) {
				next = append(next, x)
			}
		}
	}
	r.tracef("%s command: %s", f.op, strings.Join(next, " "))
	if f.varName == "" {
		r.flags = next
		return nil
	}
	return r.setVar(f.varName, f.global, strings.Join(next, " "))
}

type hasflagTest struct {
	vars []str
	m    *matcher
}

func buildHasflag(c *compiler, n *node, a *args) test {
	t := &hasflagTest{}
	keys := a.pos[0]
	if len(a.pos) == 2 {
		if !c.has("variables") {
			c.errorf(a.pos[0].pos, "the hasflag test takes a variable list only with the variables extension")
			return nil
		}
		t.vars = c.compileList(a.pos[0])
		keys = a.pos[1]
	}
	t.m = c.compileMatcher(n, a, keys)
	if t.m == nil {
		return nil
	}
	return t
}

// eval: every flag of the selected variables is a value; RFC 5232 §4
// matches each against each key (and :count counts the flags).
func (t *hasflagTest) eval(r *run) (bool, error) {
	var vals []string
	if t.vars == nil {
		vals = r.flags
	} else {
		for i := range t.vars {
			name := lower(r.expand(&t.vars[i]))
			vals = append(vals, parseFlagList([]string{r.getVar(name, false)})...)
		}
	}
	if t.m.mt == mCount {
		return t.m.match(r, vals)
	}
	// Keys are flag lists too: each flag in a key is matched separately.
	m := *t.m
	var keys []str
	for _, k := range r.expandList(t.m.keys) {
		for _, f := range strings.Fields(k) {
			keys = append(keys, str{lit: f})
		}
	}
	m.keys, m.regexes = keys, nil
	return m.match(r, vals)
}
