package sieve

// argKind is the syntactic kind of an argument (RFC 5228 §2.6).
type argKind int

const (
	argString argKind = iota + 1 // a single string
	argList                      // a string list in brackets
	argNumber
	argTag
)

type arg struct {
	kind argKind
	pos  Pos
	strs []string // argString: one element; argList: elements
	// mls marks which strings were text: strings (index-aligned with strs).
	num int64
	tag string // lower-cased tag name, without ':'
}

func (a *arg) describe() string {
	switch a.kind {
	case argString:
		return "string"
	case argList:
		return "string list"
	case argNumber:
		return "number"
	case argTag:
		return "tag ':" + a.tag + "'"
	}
	return "argument"
}

// node is a command or a test in the syntax tree.
type node struct {
	name     string // lower-cased identifier
	pos      Pos
	args     []arg
	tests    []*node
	testList bool // tests came in parentheses
	block    []*node
	hasBlock bool
}

type parser struct {
	lx       *lexer
	tok      token
	maxDepth int
	tokens   int
}

// maxTokens bounds parsing work for hostile input (foxcpp/go-sieve uses 5000;
// real scripts from Roundcube stay far below ours).
const maxTokens = 200_000

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tokens++
	if p.tokens > maxTokens {
		return p.lx.errf(t.pos, "script has too many tokens (more than %d)", maxTokens)
	}
	p.tok = t
	return nil
}

func (p *parser) errf(format string, a ...any) error {
	return p.lx.errf(p.tok.pos, format, a...)
}

// parse reads a whole script into a list of commands.
func parse(name string, src []byte, maxDepth int) ([]*node, error) {
	p := &parser{lx: newLexer(name, src), maxDepth: maxDepth}
	if err := p.advance(); err != nil {
		return nil, err
	}
	cmds, err := p.commands(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.errf("expected a command, but found %s", p.tok.describe())
	}
	return cmds, nil
}

func (p *parser) commands(depth int) ([]*node, error) {
	var out []*node
	for p.tok.kind == tIdent {
		c, err := p.command(depth)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (p *parser) command(depth int) (*node, error) {
	if depth > p.maxDepth {
		return nil, p.errf("blocks are nested too deeply (more than %d levels)", p.maxDepth)
	}
	n := &node{name: lower(p.tok.text), pos: p.tok.pos}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.arguments(n, depth); err != nil {
		return nil, err
	}
	switch p.tok.kind {
	case tSemicolon:
		return n, p.advance()
	case tLBrace:
		n.hasBlock = true
		if err := p.advance(); err != nil {
			return nil, err
		}
		block, err := p.commands(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRBrace {
			return nil, p.errf("expected a command or the end of the block '}', but found %s", p.tok.describe())
		}
		n.block = block
		return n, p.advance()
	}
	return nil, p.errf("expected end of command ';' or the beginning of a compound block '{', but found %s", p.tok.describe())
}

// arguments reads *argument [test / test-list].
func (p *parser) arguments(n *node, depth int) error {
	for {
		switch p.tok.kind {
		case tTag:
			n.args = append(n.args, arg{kind: argTag, pos: p.tok.pos, tag: lower(p.tok.text)})
		case tNumber:
			n.args = append(n.args, arg{kind: argNumber, pos: p.tok.pos, num: p.tok.num})
		case tString:
			n.args = append(n.args, arg{kind: argString, pos: p.tok.pos, strs: []string{p.tok.text}})
		case tLBracket:
			a, err := p.stringList()
			if err != nil {
				return err
			}
			n.args = append(n.args, a)
			continue
		default:
			goto tests
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
tests:
	switch p.tok.kind {
	case tIdent:
		t, err := p.test(depth + 1)
		if err != nil {
			return err
		}
		n.tests = []*node{t}
	case tLParen:
		n.testList = true
		if err := p.advance(); err != nil {
			return err
		}
		for {
			if p.tok.kind != tIdent {
				return p.errf("expected a test, but found %s", p.tok.describe())
			}
			t, err := p.test(depth + 1)
			if err != nil {
				return err
			}
			n.tests = append(n.tests, t)
			if p.tok.kind == tComma {
				if err := p.advance(); err != nil {
					return err
				}
				continue
			}
			if p.tok.kind != tRParen {
				return p.errf("expected ',' or the end of the test list ')', but found %s", p.tok.describe())
			}
			return p.advance()
		}
	}
	return nil
}

func (p *parser) test(depth int) (*node, error) {
	if depth > p.maxDepth {
		return nil, p.errf("tests are nested too deeply (more than %d levels)", p.maxDepth)
	}
	n := &node{name: lower(p.tok.text), pos: p.tok.pos}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.arguments(n, depth); err != nil {
		return nil, err
	}
	return n, nil
}

func (p *parser) stringList() (arg, error) {
	a := arg{kind: argList, pos: p.tok.pos}
	if err := p.advance(); err != nil {
		return a, err
	}
	for {
		if p.tok.kind != tString {
			return a, p.errf("expected a string in the string list, but found %s", p.tok.describe())
		}
		a.strs = append(a.strs, p.tok.text)
		if err := p.advance(); err != nil {
			return a, err
		}
		switch p.tok.kind {
		case tComma:
			if err := p.advance(); err != nil {
				return a, err
			}
		case tRBracket:
			return a, p.advance()
		default:
			return a, p.errf("expected ',' or the end of the string list ']', but found %s", p.tok.describe())
		}
	}
}

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
