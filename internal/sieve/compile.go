package sieve

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
)

// Script is a compiled script. It is immutable after Compile and safe to Run
// from many goroutines at once.
type Script struct {
	name     string
	body     []cmd
	opts     Options
	limits   Limits
	requires map[string]bool
	// usesFlags: imap4flags was required somewhere (the internal flags
	// variable then feeds keep/fileinto/implicit keep, RFC 5232 §3).
	usesFlags bool
	protected map[string]bool
	sepa      string
}

// Name is the script name given to Compile.
func (s *Script) Name() string { return s.name }

// Requires lists the extensions the script (and its includes) require.
func (s *Script) Requires() []string {
	out := make([]string, 0, len(s.requires))
	for k := range s.requires {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Compile parses and validates a script. The error is a CompileErrors (or a
// single *CompileError for syntax errors) naming script, line and column.
func Compile(name string, src []byte, opts Options) (*Script, error) {
	opts.Limits = opts.Limits.withDefaults()
	if opts.Extensions == nil {
		opts.Extensions = DefaultExtensions
	}
	if opts.SubaddressSeparator == "" {
		opts.SubaddressSeparator = "+"
	}
	prot := opts.ProtectedHeaders
	if prot == nil {
		prot = DefaultProtectedHeaders
	}
	s := &Script{name: name, opts: opts, limits: opts.Limits, requires: map[string]bool{},
		protected: map[string]bool{}, sepa: opts.SubaddressSeparator}
	for _, h := range prot {
		s.protected[lower(h)] = true
	}
	g := &compileGroup{script: s, loading: map[string]bool{}, compiled: map[string]*unit{}}
	u, err := g.compileUnit(name, src, Personal, 0)
	if err != nil {
		return nil, err
	}
	s.body = u.body
	return s, nil
}

// unit is one compiled script file (the main script or an included one).
type unit struct {
	name string
	body []cmd
}

// compileGroup is the state shared by a script and all its includes.
type compileGroup struct {
	script   *Script
	loading  map[string]bool  // include cycle detection
	compiled map[string]*unit // each included script is compiled once
	count    int
}

type compiler struct {
	g        *compileGroup
	name     string
	enabled  map[string]bool // extensions required in this script (plus ihave scopes)
	allowed  map[string]bool // extensions Options allow
	errs     CompileErrors
	reported map[string]bool
	globals  map[string]bool // variables declared global so far (RFC 6609 §3.4)
	loc      IncludeLocation
	depth    int
	strPos   Pos // the command or test whose strings are being compiled
}

func (g *compileGroup) compileUnit(name string, src []byte, loc IncludeLocation, depth int) (*unit, error) {
	lim := g.script.limits
	if len(src) > lim.MaxScriptSize {
		return nil, &CompileError{Script: name, Msg: fmt.Sprintf("script is too large (%d bytes, the limit is %d)", len(src), lim.MaxScriptSize)}
	}
	nodes, err := parse(name, src, lim.MaxNesting)
	if err != nil {
		var ce *CompileError
		if errors.As(err, &ce) {
			return nil, CompileErrors{ce, {Script: name, Msg: "parse failed."}}
		}
		return nil, err
	}
	c := &compiler{g: g, name: name, enabled: map[string]bool{}, allowed: map[string]bool{},
		reported: map[string]bool{}, globals: map[string]bool{}, loc: loc, depth: depth}
	for _, e := range g.script.opts.Extensions {
		c.allowed[e] = true
	}
	body := c.block(nodes, true)
	if len(c.errs) > 0 {
		if len(c.errs) > 0 && c.errs[len(c.errs)-1].Msg != "validation failed." {
			c.errs = append(c.errs, &CompileError{Script: name, Msg: "validation failed."})
		}
		return nil, c.errs
	}
	return &unit{name: name, body: body}, nil
}

// maxErrors stops reporting after this many problems in one script.
const maxErrors = 10

func (c *compiler) errorf(p Pos, format string, a ...any) {
	if len(c.errs) >= maxErrors {
		return
	}
	c.errs = append(c.errs, &CompileError{Script: c.name, Pos: p, Msg: fmt.Sprintf(format, a...)})
}

func (c *compiler) has(ext string) bool { return c.enabled[ext] }

// block compiles a list of commands. top is true for the script's top level,
// where require may appear before other commands.
func (c *compiler) block(nodes []*node, top bool) []cmd {
	var out []cmd
	requireAllowed := top
	for i := 0; i < len(nodes); i++ {
		n := nodes[i]
		if n.name == "require" {
			if !requireAllowed {
				c.errorf(n.pos, "require commands can only be placed at top level at the beginning of the file")
				continue
			}
			c.require(n)
			continue
		}
		requireAllowed = false
		switch n.name {
		case "if":
			ic := &ifCmd{}
			c.ifBranch(ic, n)
			for i+1 < len(nodes) && nodes[i+1].name == "elsif" {
				i++
				c.ifBranch(ic, nodes[i])
			}
			if i+1 < len(nodes) && nodes[i+1].name == "else" {
				i++
				e := nodes[i]
				if len(e.args) > 0 || len(e.tests) > 0 {
					c.errorf(e.pos, "the else command takes no arguments or tests")
				}
				if !e.hasBlock {
					c.errorf(e.pos, "the else command requires a command block")
				}
				ic.elseBlock = c.block(e.block, false)
				ic.hasElse = true
			}
			out = append(out, ic)
		case "elsif", "else":
			c.errorf(n.pos, "the %s command must follow an if or elsif command", n.name)
		default:
			if x := c.command(n); x != nil {
				out = append(out, x)
			}
		}
	}
	return out
}

func (c *compiler) ifBranch(ic *ifCmd, n *node) {
	if len(n.args) > 0 {
		c.errorf(n.args[0].pos, "the %s command expects a test, but found a %s argument", n.name, n.args[0].describe())
	}
	if len(n.tests) != 1 || n.testList {
		c.errorf(n.pos, "the %s command requires exactly one test", n.name)
		return
	}
	if !n.hasBlock {
		c.errorf(n.pos, "the %s command requires a command block", n.name)
	}
	// RFC 5463 §4: inside an "if ihave" block the named extensions may be
	// used without require; when they are missing the block is not compiled.
	if t := n.tests[0]; t.name == "ihave" && c.allowed["ihave"] && c.has("ihave") {
		exts, ok := c.ihaveList(t)
		if !ok {
			return
		}
		for _, e := range exts {
			if !c.allowed[e] {
				ic.branches = append(ic.branches, ifBranch{test: constTest(false), pos: n.pos})
				return
			}
		}
		var added []string
		for _, e := range exts {
			if !c.enabled[e] {
				c.enableExt(e)
				added = append(added, e)
			}
		}
		body := c.block(n.block, false)
		for _, e := range added {
			delete(c.enabled, e)
		}
		ic.branches = append(ic.branches, ifBranch{test: constTest(true), body: body, pos: n.pos})
		return
	}
	t := c.test(n.tests[0])
	ic.branches = append(ic.branches, ifBranch{test: t, body: c.block(n.block, false), pos: n.pos})
}

func (c *compiler) enableExt(e string) {
	c.enabled[e] = true
	c.g.script.requires[e] = true
	switch e {
	case "imap4flags":
		c.g.script.usesFlags = true
	case "vacation-seconds":
		c.enabled["vacation"] = true
		c.g.script.requires["vacation"] = true
	case "spamtestplus":
		c.enabled["spamtest"] = true
	case "ereject":
		// ereject implies reject in Pigeonhole's registry
	}
}

func (c *compiler) require(n *node) {
	if len(n.args) != 1 || (n.args[0].kind != argString && n.args[0].kind != argList) || len(n.tests) > 0 || n.hasBlock {
		c.errorf(n.pos, "the require command expects one string or string list argument (the extensions)")
		return
	}
	for _, e := range n.args[0].strs {
		if !knownExtension(e) || !c.allowed[e] {
			c.errorf(n.args[0].pos, "require command: unknown Sieve capability '%s'", e)
			continue
		}
		c.enableExt(e)
	}
}

// command compiles a non-control command.
func (c *compiler) command(n *node) cmd {
	sp := specFor(n.name)
	if !c.known(sp, n, false) {
		return nil
	}
	if sp.block && !n.hasBlock {
		c.errorf(n.pos, "the %s command requires a command block", n.name)
		return nil
	}
	if !sp.block && n.hasBlock {
		c.errorf(n.pos, "the %s command does not take a command block", n.name)
		return nil
	}
	if len(n.tests) > 0 {
		c.errorf(n.pos, "the %s command does not take tests, but found test '%s' (a missing ';'?)", n.name, n.tests[0].name)
		return nil
	}
	a, ok := c.validate(sp, n)
	if !ok {
		return nil
	}
	c.strPos = n.pos
	x := sp.buildCmd(c, n, a)
	if x == nil {
		return nil
	}
	return x
}

// known reports whether n names a command (or, with wantTest, a test)
// whose extension is required, and reports the problem once when not.
func (c *compiler) known(sp *spec, n *node, wantTest bool) bool {
	what, other := "command", "test"
	if wantTest {
		what, other = "test", "command"
	}
	if sp != nil && sp.test == wantTest && (sp.ext == "" || c.has(sp.ext)) {
		return true
	}
	if sp != nil && sp.test != wantTest {
		c.errorf(n.pos, "'%s' is a %s, not a %s", n.name, other, what)
		return false
	}
	key := what + ":" + n.name
	if !c.reported[key] {
		c.reported[key] = true
		hint := ""
		if sp != nil && sp.ext != "" {
			hint = fmt.Sprintf(" (the %s extension is not required: add require \"%s\";)", sp.ext, sp.ext)
		}
		c.errorf(n.pos, "unknown %s '%s'%s (only reported once at first occurrence)", what, n.name, hint)
	}
	return false
}

// test compiles one test.
func (c *compiler) test(n *node) test {
	sp := specFor(n.name)
	if !c.known(sp, n, true) {
		return constTest(false)
	}
	switch {
	case sp.tests == 0 && len(n.tests) > 0:
		c.errorf(n.tests[0].pos, "the %s test does not take tests, but found test '%s'", n.name, n.tests[0].name)
		return constTest(false)
	case sp.tests == 1 && (len(n.tests) != 1 || n.testList):
		c.errorf(n.pos, "the %s test requires exactly one test as argument", n.name)
		return constTest(false)
	case sp.tests == -1 && !n.testList:
		c.errorf(n.pos, "the %s test requires a list of tests in parentheses", n.name)
		return constTest(false)
	}
	a, ok := c.validate(sp, n)
	if !ok {
		return constTest(false)
	}
	c.strPos = n.pos
	t := sp.buildTest(c, n, a)
	if t == nil {
		return constTest(false)
	}
	return &placedTest{t: t, name: n.name, pos: n.pos}
}

// placedTest records where a test is, for errors and the trace.
type placedTest struct {
	t    test
	name string
	pos  Pos
}

func (p *placedTest) eval(r *run) (bool, error) {
	r.pos = p.pos
	if r.trace != nil {
		r.tracef("%s test", p.name)
	}
	ok, err := p.t.eval(r)
	if r.trace != nil && err == nil {
		r.pos = p.pos
		r.tracef("%s test => %v", p.name, ok)
	}
	return ok, err
}

// tagDef describes a tagged argument (RFC 5228 §2.6.2).
type tagDef struct {
	name  string
	ext   string  // extension that must be required for the tag
	group string  // tags in one group are mutually exclusive
	val   argKind // 0: no value; argString, argList (string or list), argNumber
}

// posDef describes a positional argument.
type posDef struct {
	name string
	kind argKind // argString, argList (accepts a single string too), argNumber
}

type spec struct {
	name  string
	ext   string
	test  bool
	tags  []tagDef
	pos   []posDef
	min   int // minimum positional arguments; -1 means len(pos)
	tests int // tests only: 0 none, 1 one test, -1 a test list
	block bool
	// optionalFirst: the first positional argument may be omitted (setflag's
	// variable name, deleteheader's value patterns are handled by min).
	buildCmd  func(c *compiler, n *node, a *args) cmd
	buildTest func(c *compiler, n *node, a *args) test
}

// args are validated arguments.
type args struct {
	tags  map[string]*arg // tag name -> value (or the tag itself when it has no value)
	group map[string]string
	pos   []*arg
}

func (a *args) has(tag string) bool { _, ok := a.tags[tag]; return ok }

func (c *compiler) validate(sp *spec, n *node) (*args, bool) {
	a := &args{tags: map[string]*arg{}, group: map[string]string{}}
	ok := true
	what := "command"
	if sp.test {
		what = "test"
	}
	for i := 0; i < len(n.args); i++ {
		x := &n.args[i]
		if x.kind != argTag {
			a.pos = append(a.pos, x)
			continue
		}
		var td *tagDef
		for j := range sp.tags {
			if sp.tags[j].name == x.tag && (sp.tags[j].ext == "" || c.has(sp.tags[j].ext)) {
				td = &sp.tags[j]
				break
			}
		}
		if td == nil {
			c.errorf(x.pos, "unknown tagged argument ':%s' for the %s %s", x.tag, sp.name, what)
			ok = false
			continue
		}
		if len(a.pos) > 0 {
			c.errorf(x.pos, "tagged argument ':%s' of the %s %s must come before the positional arguments", x.tag, sp.name, what)
			ok = false
		}
		if _, dup := a.tags[x.tag]; dup {
			c.errorf(x.pos, "the :%s tag of the %s %s is given more than once", x.tag, sp.name, what)
			ok = false
			continue
		}
		if td.group != "" {
			if prev, dup := a.group[td.group]; dup {
				c.errorf(x.pos, "the :%s tag of the %s %s conflicts with :%s", x.tag, sp.name, what, prev)
				ok = false
				continue
			}
			a.group[td.group] = x.tag
		}
		if td.val == 0 {
			a.tags[x.tag] = x
			continue
		}
		if i+1 >= len(n.args) || !kindFits(td.val, n.args[i+1].kind) {
			found := "nothing"
			if i+1 < len(n.args) {
				found = "a " + n.args[i+1].describe()
			}
			c.errorf(x.pos, "the :%s tag of the %s %s expects a %s argument, but found %s", x.tag, sp.name, what, kindName(td.val), found)
			ok = false
			continue
		}
		i++
		a.tags[x.tag] = &n.args[i]
	}
	min := sp.min
	if min < 0 {
		min = len(sp.pos)
	}
	if len(a.pos) < min {
		missing := sp.pos[len(a.pos)]
		c.errorf(n.pos, "the %s %s expects a %s as %s argument, but found %s", sp.name, what, kindName(missing.kind), missing.name, foundName(n, a))
		return a, false
	}
	if len(a.pos) > len(sp.pos) {
		c.errorf(a.pos[len(sp.pos)].pos, "the %s %s takes at most %d positional arguments, but found a %s as argument %d", sp.name, what, len(sp.pos), a.pos[len(sp.pos)].describe(), len(sp.pos)+1)
		return a, false
	}
	for i, p := range a.pos {
		d := sp.pos[i]
		if !kindFits(d.kind, p.kind) {
			c.errorf(p.pos, "the %s %s expects a %s as %s argument, but found a %s", sp.name, what, kindName(d.kind), d.name, p.describe())
			ok = false
		}
	}
	return a, ok
}

func foundName(n *node, a *args) string {
	switch len(a.pos) {
	case 0:
		return "none"
	case 1:
		return "only 1 positional argument"
	}
	return fmt.Sprintf("only %d positional arguments", len(a.pos))
}

func kindFits(want, got argKind) bool {
	switch want {
	case argList:
		return got == argList || got == argString
	default:
		return want == got
	}
}

func kindName(k argKind) string {
	return (&arg{kind: k}).describe()
}

// commandSpecs holds every command and test, core and extension, made by
// registerAll at the first compile, not at init: every ebb-deliver
// process links this package and most deliveries run no script (issue
// 28). Read it through specFor.
var (
	commandSpecs map[string]*spec
	specsOnce    sync.Once
)

// specFor returns the spec of the command or test name, nil if none.
func specFor(name string) *spec {
	specsOnce.Do(registerAll)
	return commandSpecs[name]
}

// registerAll makes commandSpecs: each file of a command or extension has
// a register function, called here.
func registerAll() {
	commandSpecs = map[string]*spec{}
	registerCore()
	registerBody()
	registerDate()
	registerDuplicate()
	registerEditheader()
	registerEnvironment()
	registerIhave()
	registerImap4flags()
	registerInclude()
	registerMailbox()
	registerScores()
	registerVacation()
	registerVariables()
}

func register(sp *spec) {
	if commandSpecs == nil {
		panic("sieve: register called outside registerAll: call the extension's register function there")
	}
	if sp.min == 0 && len(sp.pos) > 0 {
		sp.min = -1
	}
	commandSpecs[sp.name] = sp
}

// includeScript compiles an included script (RFC 6609), once per location
// and name in a compile group.
func (c *compiler) includeScript(p Pos, loc IncludeLocation, name string, optional bool) (*unit, bool) {
	g := c.g
	key := string(loc) + ":" + name
	if u, ok := g.compiled[key]; ok {
		return u, true
	}
	if g.loading[key] {
		c.errorf(p, "circular include of %s script '%s'", loc, name)
		return nil, false
	}
	if c.depth+1 > g.script.limits.MaxIncludeDepth {
		c.errorf(p, "include nesting is too deep (more than %d levels) at %s script '%s'", g.script.limits.MaxIncludeDepth, loc, name)
		return nil, false
	}
	if g.script.opts.Include == nil {
		c.errorf(p, "include of %s script '%s': include is not configured", loc, name)
		return nil, false
	}
	g.count++
	if g.count > g.script.limits.MaxIncludes {
		c.errorf(p, "too many included scripts (more than %d)", g.script.limits.MaxIncludes)
		return nil, false
	}
	src, err := g.script.opts.Include.LoadInclude(loc, name)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return nil, true
		}
		c.errorf(p, "failed to include %s script '%s': %v", loc, name, err)
		return nil, false
	}
	g.loading[key] = true
	u, err := g.compileUnit(name, src, loc, c.depth+1)
	delete(g.loading, key)
	if err != nil {
		var ces CompileErrors
		if errors.As(err, &ces) {
			c.errs = append(c.errs, ces...)
		} else {
			c.errorf(p, "failed to compile included %s script '%s': %v", loc, name, err)
		}
		c.errorf(p, "failed to compile included %s script '%s'", loc, name)
		return nil, false
	}
	g.compiled[key] = u
	return u, true
}

func validIncludeName(s string) bool {
	return s != "" && !strings.ContainsAny(s, "/\x00") && s != "." && s != ".."
}
