package sieve

import "errors"

// RFC 6609: include, return and global.

// registerInclude adds the specs of this file (registerAll).
func registerInclude() {
	register(&spec{name: "include", ext: "include", tags: []tagDef{
		{name: "personal", group: "location"}, {name: "global", group: "location"},
		{name: "once"}, {name: "optional"},
	}, pos: []posDef{{"script name", argString}}, buildCmd: buildInclude})
	register(&spec{name: "return", ext: "include", buildCmd: func(c *compiler, n *node, a *args) cmd { return returnCmd{} }})
	register(&spec{name: "global", ext: "include", pos: []posDef{{"variable names", argList}}, buildCmd: buildGlobal})
}

type includeCmd struct {
	u    *unit // nil when an :optional script was missing
	once bool
	name string
	pos  Pos
}

func buildInclude(c *compiler, n *node, a *args) cmd {
	loc := Personal
	if a.group["location"] == "global" {
		loc = Global
	}
	name := a.pos[0].strs[0]
	// RFC 6609 §3.2: the name is a constant; variables are not expanded.
	if !validIncludeName(name) {
		c.errorf(a.pos[0].pos, "include: invalid script name '%s'", name)
		return nil
	}
	u, ok := c.includeScript(n.pos, loc, name, a.has("optional"))
	if !ok {
		return nil
	}
	return &includeCmd{u: u, once: a.has("once"), name: name, pos: n.pos}
}

func (ic *includeCmd) exec(r *run) error {
	if ic.u == nil {
		return nil
	}
	if ic.once {
		if r.onceDone[ic.u] {
			return nil
		}
		if r.onceDone == nil {
			r.onceDone = map[*unit]bool{}
		}
		r.onceDone[ic.u] = true
	}
	r.includeDepth++
	if r.includeDepth > r.s.limits.MaxIncludeDepth {
		r.includeDepth--
		return r.limitErr("MaxIncludeDepth", "include nesting is too deep")
	}
	r.tracef("include %s", ic.name)
	// Each included script has its own local variables (RFC 6609 §3.4).
	savedLocal, savedScript, savedPos := r.local, r.script, r.pos
	r.local = map[string]string{}
	r.script = ic.u.name
	err := r.block(ic.u.body)
	r.local, r.script, r.pos = savedLocal, savedScript, savedPos
	r.includeDepth--
	if errors.Is(err, errReturn) {
		return nil
	}
	return err
}

type returnCmd struct{}

func (returnCmd) exec(r *run) error { return errReturn }

type globalCmd struct{}

func buildGlobal(c *compiler, n *node, a *args) cmd {
	if !c.has("variables") {
		c.errorf(n.pos, "the global command requires the variables extension (require \"variables\";)")
		return nil
	}
	for _, s := range a.pos[0].strs {
		name := lower(s)
		if !validIdent(name) {
			c.errorf(a.pos[0].pos, "invalid variable name '%s' for the global command", s)
			continue
		}
		c.globals[name] = true
	}
	return globalCmd{}
}

func (globalCmd) exec(r *run) error { return nil }
