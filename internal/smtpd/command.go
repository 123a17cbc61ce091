package smtpd

import (
	"errors"
	"strings"
)

// The command parser: one command line into its verb and argument, and a
// MAIL or RCPT argument into the path and the parameters (RFC 5321 §4.1.1,
// §4.1.2). It is lenient where real clients differ from the grammar and
// the difference is harmless (a space after "FROM:", a path without angle
// brackets, a line ending in a bare LF, lower-case verbs), and strict
// where a difference could make two readers see different things.

// command is one command line, split.
type command struct {
	verb string // upper case; "" for an empty line
	arg  string // the rest of the line, without surrounding spaces
}

// errSyntax is a command line that is no command at all (a verb that is
// not a word).
var errSyntax = errors.New("not an SMTP command")

// parseCommand splits a command line (its line end may still be there).
// The verb is the first word (RFC 5321 §4.1.1: a four-letter keyword, or
// STARTTLS, or an extension's); the argument follows one or more spaces.
// A tab separates too: clients that type commands by hand send one.
func parseCommand(line []byte) (command, error) {
	s := strings.TrimRight(string(line), "\r\n")
	verb, arg, _ := strings.Cut(s, " ")
	if i := strings.IndexByte(verb, '\t'); i >= 0 {
		verb, arg = s[:i], s[i+1:]
	}
	if verb == "" {
		if strings.TrimSpace(s) == "" {
			return command{}, nil
		}
		return command{}, errSyntax
	}
	if len(verb) > 16 {
		return command{}, errSyntax
	}
	for i := 0; i < len(verb); i++ {
		c := verb[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return command{}, errSyntax
		}
	}
	return command{verb: strings.ToUpper(verb), arg: strings.Trim(arg, " \t")}, nil
}

// cutKeyword removes a case-insensitive keyword such as "FROM:" from the
// start of arg, and the spaces after it: "MAIL FROM: <a@b>" is common
// enough (scripts, old clients) that refusing it helps nobody.
func cutKeyword(arg, kw string) (string, bool) {
	if len(arg) < len(kw) || !strings.EqualFold(arg[:len(kw)], kw) {
		return "", false
	}
	return strings.TrimLeft(arg[len(kw):], " "), true
}

// errPath is an argument in which no path can be found.
type errPath string

func (e errPath) Error() string { return string(e) }

// parsePath reads the path at the start of s (RFC 5321 §4.1.2 Path,
// Reverse-path): "<local@domain>", optionally with a source route
// ("<@relay:local@domain>", whose route is ignored as §4.1.1.3 and
// Appendix C say), or the same without angle brackets. It returns the
// mailbox as local@domain with a quoted local part unquoted, and the rest
// of s (the parameters).
//
// reverse allows the null path "<>" (MAIL FROM, RFC 5321 §4.5.5), and
// postmaster allows "<Postmaster>" without a domain (RCPT TO, §4.1.1.3:
// a server must accept it, §4.5.1).
//
// What the mailbox may contain is decided later, by envaddr (the one
// address parser) in the policy: control characters, spaces in a quoted
// local part, a second "@" all come through to be refused with the
// reason (553), not here with a bare syntax error.
func parsePath(s string, reverse, postmaster bool) (addr, rest string, err error) {
	if reverse && strings.HasPrefix(s, "<>") {
		return "", strings.TrimLeft(s[2:], " "), nil
	}
	bracket := strings.HasPrefix(s, "<")
	if bracket {
		s = s[1:]
	}
	if strings.HasPrefix(s, "@") {
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return "", "", errPath("a source route without its ':'")
		}
		s = s[i+1:]
	}
	local, s, err := cutLocalPart(s)
	if err != nil {
		return "", "", err
	}
	if !strings.HasPrefix(s, "@") {
		// RFC 5321 §4.1.1.3: "Postmaster" alone, case-insensitive.
		if postmaster && strings.EqualFold(local, "postmaster") && (s == "" || s[0] == '>' || s[0] == ' ') {
			addr = local
		} else {
			return "", "", errPath("no @domain after the local part")
		}
	} else {
		end := strings.IndexAny(s, " \t>")
		if end < 0 {
			end = len(s)
		}
		if end == 1 {
			return "", "", errPath("an empty domain")
		}
		addr, s = local+s[:end], s[end:]
	}
	if bracket {
		if !strings.HasPrefix(s, ">") {
			return "", "", errPath("no '>' after the address")
		}
		s = s[1:]
	}
	if s != "" && s[0] != ' ' {
		return "", "", errPath("text right after the address")
	}
	return addr, strings.TrimLeft(s, " "), nil
}

// cutLocalPart reads a local part (RFC 5321 §4.1.2): a quoted string,
// returned unquoted (a backslash quotes the next character), or a
// dot-string, which ends at "@". It returns the rest of s from the "@".
func cutLocalPart(s string) (local, rest string, err error) {
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			switch c := s[i]; c {
			case '\\':
				i++
				if i == len(s) {
					return "", "", errPath("an unterminated quoted local part")
				}
				b.WriteByte(s[i])
			case '"':
				if b.Len() == 0 {
					return "", "", errPath("an empty local part")
				}
				return b.String(), s[i+1:], nil
			default:
				b.WriteByte(c)
			}
		}
		return "", "", errPath("an unterminated quoted local part")
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '@':
			if i == 0 {
				return "", "", errPath("an empty local part")
			}
			return s[:i], s[i:], nil
		case '>', ' ':
			if i == 0 {
				return "", "", errPath("an empty local part")
			}
			return s[:i], s[i:], nil
		case '(', ')', '<', '[', ']', ':', ';', '\\', ',', '"', '\t':
			return "", "", errPath("a character that needs quoting in the local part")
		}
	}
	if s == "" {
		return "", "", errPath("an empty local part")
	}
	return s, "", nil
}
