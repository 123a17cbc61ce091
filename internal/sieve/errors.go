package sieve

import (
	"errors"
	"fmt"
	"strings"
)

// CompileError is one problem in a script, in Pigeonhole's style:
// "name: line 3, column 5: error: expected ';' but found end of file."
type CompileError struct {
	Script string
	Pos    Pos
	Msg    string
}

func (e *CompileError) Error() string {
	if e.Pos.Line == 0 {
		return fmt.Sprintf("%s: error: %s", e.Script, e.Msg)
	}
	return fmt.Sprintf("%s: line %d, column %d: error: %s", e.Script, e.Pos.Line, e.Pos.Col, e.Msg)
}

// CompileErrors is every problem found in a script (compilation continues
// after the first validation error to report more, as Pigeonhole does).
type CompileErrors []*CompileError

func (es CompileErrors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap lets errors.As find the first *CompileError.
func (es CompileErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// RuntimeError is a failure while running a script: a limit was crossed, a
// hook failed, or an action conflicts with another. The caller performs
// implicit keep.
type RuntimeError struct {
	Script string
	Pos    Pos
	// Limit names the crossed limit ("MaxActions", "MaxSteps", ...), or "".
	Limit string
	Msg   string
	Err   error
}

func (e *RuntimeError) Error() string {
	loc := e.Script
	if e.Pos.Line > 0 {
		loc = fmt.Sprintf("%s: line %d, column %d", e.Script, e.Pos.Line, e.Pos.Col)
	}
	s := fmt.Sprintf("%s: runtime error: %s", loc, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *RuntimeError) Unwrap() error { return e.Err }

// ErrLimit matches (errors.Is) every RuntimeError caused by a Limits field.
var ErrLimit = errors.New("sieve limit exceeded")

func (e *RuntimeError) Is(target error) bool { return target == ErrLimit && e.Limit != "" }
