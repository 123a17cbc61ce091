package sieve

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// The text of `ebb sieve test` (docs/sieve.md): one action a line, in the
// stable format the differential test against Pigeonhole also normalises
// its output into.

// FormatActions prints a result in the stable line format of docs/md.
func FormatActions(res *Result) []string {
	var out []string
	for _, a := range res.Actions {
		out = append(out, formatAction(a))
	}
	if res.ImplicitKeep {
		out = append(out, "implicit keep"+flagsSuffix(res.ImplicitKeepFlags))
	}
	return out
}

func formatAction(a Action) string {
	switch a := a.(type) {
	case Keep:
		if a.Copy {
			return "keep" + flagsSuffix(a.Flags) + " :copy"
		}
		return "keep" + flagsSuffix(a.Flags)
	case *Keep:
		return formatAction(*a)
	case Discard, *Discard:
		return "discard"
	case FileInto:
		s := "fileinto " + Quote(a.Mailbox) + flagsSuffix(a.Flags)
		if a.Copy {
			s += " :copy"
		}
		if a.Create {
			s += " :create"
		}
		return s
	case *FileInto:
		return formatAction(*a)
	case Redirect:
		s := "redirect " + Quote(a.Address)
		if a.Copy {
			s += " :copy"
		}
		return s
	case *Redirect:
		return formatAction(*a)
	case Reject:
		if a.Extended {
			return "ereject " + Quote(a.Reason)
		}
		return "reject " + Quote(a.Reason)
	case *Reject:
		return formatAction(*a)
	case Vacation:
		s := "vacation to=" + Quote(a.To)
		if a.Subject != "" {
			s += " subject=" + Quote(a.Subject)
		}
		if a.From != "" {
			s += " from=" + Quote(a.From)
		}
		s += " seconds=" + strconv.FormatInt(a.Seconds, 10) + " handle=" + Quote(a.Handle)
		if a.Mime {
			s += " mime=yes"
		}
		if len(a.Addresses) > 0 {
			s += " addresses=" + Quote(strings.Join(a.Addresses, ", "))
		}
		if a.Skip != "" {
			s += " skip=" + Quote(a.Skip)
		}
		return s + " reason=" + Quote(a.Reason)
	case *Vacation:
		return formatAction(*a)
	case AddHeader:
		s := "addheader " + Quote(a.Name) + " " + Quote(a.Value)
		if a.Last {
			s += " :last"
		}
		return s
	case *AddHeader:
		return formatAction(*a)
	case DeleteHeader:
		s := "deleteheader " + Quote(a.Name)
		if len(a.Indexes) > 0 {
			s += " index"
			for _, i := range a.Indexes {
				s += " " + strconv.Itoa(i)
			}
		}
		return s
	case *DeleteHeader:
		return formatAction(*a)
	}
	return fmt.Sprintf("unknown %T", a)
}

// flagsSuffix prints " flags "\\Seen" "$Label"" (nothing without flags).
func flagsSuffix(flags []string) string {
	if len(flags) == 0 {
		return ""
	}
	fs := append([]string{}, flags...)
	sort.Strings(fs)
	var b strings.Builder
	b.WriteString(" flags")
	for _, f := range fs {
		b.WriteString(" " + Quote(f))
	}
	return b.String()
}

// CompileErrorLines is each problem in err as FILE:LINE:COL: error:
// MESSAGE (FILE: the script or the included one that has it; path when
// err is not a compile error).
func CompileErrorLines(path string, err error) []string {
	var ces CompileErrors
	var ce *CompileError
	switch {
	case errors.As(err, &ces):
		out := make([]string, len(ces))
		for i, c := range ces {
			out[i] = compileErrorLine(path, c)
		}
		return out
	case errors.As(err, &ce):
		return []string{compileErrorLine(path, ce)}
	}
	return []string{fmt.Sprintf("%s: error: %v", path, err)}
}

func compileErrorLine(path string, c *CompileError) string {
	name := c.Script
	if name == "" {
		name = path
	}
	if c.Pos.Line == 0 {
		return fmt.Sprintf("%s: error: %s", name, c.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: error: %s", name, c.Pos.Line, c.Pos.Col, c.Msg)
}

// HeaderAddress is the first address of the first header field of names
// that m has, read as the address test reads it; "" for "<>" or none.
// ebb sieve test takes its envelope from it when --from or --to is not
// given (Return-Path, From; Delivered-To, To).
func HeaderAddress(m Message, names ...string) string {
	for _, n := range names {
		for _, h := range m.Header() {
			if !strings.EqualFold(h.Name, n) {
				continue
			}
			v := strings.TrimSpace(h.Value)
			if v == "<>" {
				return ""
			}
			if list := parseAddressList(v); len(list) > 0 && list[0].valid {
				return list[0].all
			}
			return strings.Trim(v, "<>")
		}
	}
	return ""
}
