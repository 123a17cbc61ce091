package sieve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
)

// cmd is an executable command.
type cmd interface {
	exec(r *run) error
}

// test is an executable test.
type test interface {
	eval(r *run) (bool, error)
}

var (
	errStop   = errors.New("stop")
	errReturn = errors.New("return")
)

// run is the state of one execution of a script.
type run struct {
	ctx    context.Context
	s      *Script
	msg    Message
	env    Envelope
	rt     *Runtime
	now    time.Time
	trace  io.Writer
	steps  int64
	script string // name of the unit being executed, for errors
	pos    Pos    // position of the command being executed

	local   map[string]string // variables of the current unit
	globals map[string]string // variables declared global (RFC 6609 §3.4)
	match   []string          // match variables ${0}..${n}
	flags   []string          // imap4flags internal variable (RFC 5232 §3)

	res          Result
	cancelled    bool // implicit keep cancelled
	redirects    int
	rejected     bool
	vacation     bool
	includeDepth int
	onceDone     map[*unit]bool

	hdr       []HeaderField // current header, after editheader changes
	hdrEdited bool
	edits     int

	hvCache    map[string][]string     // header name -> decoded values
	haCache    map[string][][]mailAddr // header name -> addresses per field
	deadline   time.Time
	bodyCache  map[string][]string // body transform key -> texts
	regexCache map[string]*regexp.Regexp
}

// Run executes the script against a message. On error the returned Result
// still says ImplicitKeep: the caller must keep the message (RFC 5228 §2.10.6).
func (s *Script) Run(ctx context.Context, msg Message, env Envelope, rt Runtime) (*Result, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	r := &run{ctx: ctx, s: s, msg: msg, env: env, rt: &rt, trace: rt.Trace, script: s.name,
		local: map[string]string{}, globals: map[string]string{}}
	start := time.Now()
	r.deadline = start.Add(s.limits.MaxCPUTime)
	r.now = rt.Now
	if r.now.IsZero() {
		r.now = start
	}
	if rt.Location == nil {
		r.rt.Location = time.Local
	}
	err := r.block(s.body)
	if errors.Is(err, errStop) || errors.Is(err, errReturn) {
		err = nil
	}
	if err != nil {
		return &Result{ImplicitKeep: true}, err
	}
	res := r.res
	res.ImplicitKeep = !r.cancelled
	if res.ImplicitKeep && s.usesFlags {
		res.ImplicitKeepFlags = cloneStrings(r.flags)
	}
	if r.hdrEdited {
		res.EditedHeader = r.hdr
	}
	return &res, nil
}

func cloneStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return append([]string{}, s...)
}

// step counts work and checks the deadline; every command, test and match
// comparison calls it, so a hostile script stops within MaxSteps.
func (r *run) step(n int64) error {
	r.steps += n
	if r.steps > r.s.limits.MaxSteps {
		return r.limitErr("MaxSteps", fmt.Sprintf("the script did too much work (more than %d steps)", r.s.limits.MaxSteps))
	}
	if r.steps&0xff == 0 || n > 1 {
		// The deadline is checked here rather than with a context timer,
		// which would cost a timer per run.
		if err := r.ctx.Err(); err != nil {
			return &RuntimeError{Script: r.script, Pos: r.pos, Limit: "MaxCPUTime", Msg: "the script ran out of time", Err: err}
		}
		if time.Now().After(r.deadline) {
			return &RuntimeError{Script: r.script, Pos: r.pos, Limit: "MaxCPUTime", Msg: fmt.Sprintf("the script ran longer than %v", r.s.limits.MaxCPUTime)}
		}
	}
	return nil
}

func (r *run) limitErr(limit, msg string) error {
	return &RuntimeError{Script: r.script, Pos: r.pos, Limit: limit, Msg: msg}
}

func (r *run) errf(format string, a ...any) error {
	return &RuntimeError{Script: r.script, Pos: r.pos, Msg: fmt.Sprintf(format, a...)}
}

func (r *run) tracef(format string, a ...any) {
	if r.trace == nil {
		return
	}
	fmt.Fprintf(r.trace, "%s: %d: ", r.script, r.pos.Line)
	fmt.Fprintf(r.trace, format, a...)
	io.WriteString(r.trace, "\n")
}

func (r *run) block(cmds []cmd) error {
	for _, c := range cmds {
		if err := r.step(1); err != nil {
			return err
		}
		if err := c.exec(r); err != nil {
			return err
		}
	}
	return nil
}

// ifCmd is if/elsif/else (RFC 5228 §3.1).
type ifCmd struct {
	branches  []ifBranch
	elseBlock []cmd
	hasElse   bool
}

type ifBranch struct {
	test test
	body []cmd
	pos  Pos
}

func (c *ifCmd) exec(r *run) error {
	for _, b := range c.branches {
		r.pos = b.pos
		ok, err := b.test.eval(r)
		if err != nil {
			return err
		}
		if ok {
			return r.block(b.body)
		}
	}
	if c.hasElse {
		return r.block(c.elseBlock)
	}
	return nil
}

type constTest bool

func (t constTest) eval(r *run) (bool, error) { return bool(t), nil }

// addAction appends an action, enforcing MaxActions.
func (r *run) addAction(a Action) error {
	if len(r.res.Actions) >= r.s.limits.MaxActions {
		return r.limitErr("MaxActions", fmt.Sprintf("too many actions (more than %d)", r.s.limits.MaxActions))
	}
	r.res.Actions = append(r.res.Actions, a)
	return nil
}

// currentFlags is the value the internal flags variable gives keep/fileinto
// without :flags (RFC 5232 §3); nil when imap4flags is not in use.
func (r *run) currentFlags() []string {
	if !r.s.usesFlags {
		return nil
	}
	return cloneStrings(r.flags)
}
