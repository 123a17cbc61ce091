package sieve

// RFC 5463: ihave. The test is resolved at compile time (compile.go's
// ifBranch compiles an "if ihave" block only when the extensions exist);
// elsewhere it is evaluated at run time.

// registerIhave adds the specs of this file (registerAll).
func registerIhave() {
	register(&spec{name: "ihave", ext: "ihave", test: true, pos: []posDef{{"capabilities", argList}}, buildTest: buildIhave})
}

func (c *compiler) ihaveList(t *node) ([]string, bool) {
	if len(t.args) != 1 || (t.args[0].kind != argString && t.args[0].kind != argList) || len(t.tests) > 0 {
		c.errorf(t.pos, "the ihave test expects one string list argument (the capabilities)")
		return nil, false
	}
	// RFC 5463 §4: the capability names must be constant.
	for _, s := range t.args[0].strs {
		if c.has("variables") && containsVarRef(s) {
			c.errorf(t.args[0].pos, "the ihave test requires constant capability names")
			return nil, false
		}
	}
	return t.args[0].strs, true
}

func containsVarRef(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '$' && s[i+1] == '{' {
			return true
		}
	}
	return false
}

func buildIhave(c *compiler, n *node, a *args) test {
	exts, ok := c.ihaveList(n)
	if !ok {
		return nil
	}
	for _, e := range exts {
		if !knownExtension(e) || !c.allowed[e] {
			return constTest(false)
		}
	}
	return constTest(true)
}
