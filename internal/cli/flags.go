package cli

import (
	"fmt"
	"strings"
)

// Strings is a repeatable flag: --to a --to b.
type Strings []string

func (s *Strings) String() string     { return strings.Join(*s, ",") }
func (s *Strings) Set(v string) error { *s = append(*s, v); return nil }

// Pairs is a repeatable NAME=VALUE flag (names lower-cased): --env
// location=MDA --env phase=during.
type Pairs map[string]string

func (p Pairs) String() string { return "" }
func (p Pairs) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want NAME=VALUE, found %q", v)
	}
	p[strings.ToLower(k)] = val
	return nil
}
