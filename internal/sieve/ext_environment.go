package sieve

import "os"

// RFC 5183: the environment test.

// registerEnvironment adds the specs of this file (registerAll).
func registerEnvironment() {
	register(&spec{name: "environment", ext: "environment", test: true, tags: matchTags,
		pos: []posDef{{"name", argString}, {"key list", argList}}, buildTest: buildEnvironment})
}

// Version is reported as the "version" environment item.
const Version = "1.0"

type environmentTest struct {
	name str
	m    *matcher
}

func buildEnvironment(c *compiler, n *node, a *args) test {
	t := &environmentTest{name: c.compileStr(a.pos[0].strs[0])}
	t.m = c.compileMatcher(n, a, a.pos[1])
	if t.m == nil {
		return nil
	}
	return t
}

// environmentItem returns an item: Runtime.Environment first, then the
// built-in ones. "location" is "MS" and "phase" is "post", as Pigeonhole
// reports them at delivery.
func (r *run) environmentItem(name string) (string, bool) {
	name = lower(name)
	if v, ok := r.rt.Environment[name]; ok {
		return v, true
	}
	switch name {
	case "name":
		return "ebb", true
	case "version":
		return Version, true
	case "domain", "host":
		h, err := os.Hostname()
		return h, err == nil
	case "location":
		return "MS", true
	case "phase":
		return "post", true
	}
	return "", false
}

// eval: a missing item never matches (RFC 5183 §4).
func (t *environmentTest) eval(r *run) (bool, error) {
	v, ok := r.environmentItem(r.expand(&t.name))
	if !ok {
		if t.m.mt == mCount {
			return t.m.match(r, nil)
		}
		return false, nil
	}
	return t.m.match(r, []string{v})
}
