package sieve

import (
	"fmt"
	"strings"
)

// Quote writes s as a Sieve quoted string (RFC 5228 §2.4.2: \" and \\
// escaped), with control characters as \r, \n, \t or \xHH so that an action
// printed with it stays on one line. It is the format of `ebb sieve test`,
// which the differential test also normalises Pigeonhole's output into.
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
