package config

import (
	"strings"
)

// locator maps dotted keys to the line that sets them. BurntSushi/toml gives
// positions only for syntax errors; unknown keys and bad values need the line
// too (principle 4), and a config file's structure is simple enough that a
// line scan finds it.
type locator struct {
	lines map[string]int
}

func newLocator(src string) *locator {
	l := &locator{lines: map[string]int{}}
	table := ""
	for i, raw := range strings.Split(src, "\n") {
		n := i + 1
		line := strings.TrimSpace(stripComment(raw))
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "[") {
			name := strings.Trim(line, "[] \t")
			table = normKey(name)
			l.set(table, n)
			continue
		}
		eq := strings.Index(line, "=")
		if eq <= 0 {
			continue
		}
		key := normKey(line[:eq])
		if table != "" {
			key = table + "." + key
		}
		l.set(key, n)
	}
	return l
}

func (l *locator) set(key string, n int) {
	if _, ok := l.lines[key]; !ok {
		l.lines[key] = n
	}
}

// line returns the line of key, or of its nearest enclosing table, or 0.
func (l *locator) line(key string) int {
	if l == nil {
		return 0
	}
	for k := key; k != ""; {
		if n, ok := l.lines[k]; ok {
			return n
		}
		i := strings.LastIndex(k, ".")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

// normKey turns `a . "b" .c` into a.b.c.
func normKey(s string) string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}

// stripComment removes a # comment that is not inside a string.
func stripComment(s string) string {
	inStr := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inStr != 0:
			if c == '\\' && inStr == '"' {
				i++
			} else if c == inStr {
				inStr = 0
			}
		case c == '"' || c == '\'':
			inStr = c
		case c == '#':
			return s[:i]
		}
	}
	return s
}
