package config

import (
	"fmt"
	"strings"
)

// placeholders returns the {...} parts of s, left to right (what the
// regular expression \{[^}]*\} finds, without compiling one at every
// start: the config is read by every one-message process).
func placeholders(s string) []string {
	var out []string
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return out
		}
		out = append(out, s[i:i+j+1])
		s = s[i+j+1:]
	}
}

// check holds the rules that span keys or look inside values.
func (c *Config) check() []Problem {
	var probs []Problem
	has := map[string]bool{}
	unknown := false
	for _, p := range placeholders(c.Mail.Maildir) {
		switch p {
		case "{root}", "{domain}", "{local}", "{address}":
			has[p] = true
		default:
			unknown = true
			probs = append(probs, Problem{Key: "mail.maildir", Msg: fmt.Sprintf("mail.maildir: unknown placeholder %s; use {root}, {domain}, {local} or {address}", p)})
		}
	}
	// One Maildir per mailbox: a template that leaves out the address, or
	// keeps the local part without the domain, puts the mail of several
	// mailboxes into one Maildir (alice@a.example and alice@b.example).
	if !unknown && !has["{address}"] && !(has["{local}"] && has["{domain}"]) {
		missing := "{address}, or {domain} and {local}"
		if has["{local}"] {
			missing = "{domain} beside {local}, or {address}"
		}
		probs = append(probs, Problem{Key: "mail.maildir", Msg: fmt.Sprintf(
			"mail.maildir = %q gives several mailboxes one Maildir: it needs %s (e.g. \"{root}/{domain}/{local}/Maildir\"); to move every Maildir, set mail.root instead", c.Mail.Maildir, missing)})
	}
	probs = append(probs, c.Relay.check()...)
	probs = append(probs, c.DNS.check()...)
	probs = append(probs, c.checkReports()...)
	probs = append(probs, c.Auth.check()...)
	probs = append(probs, c.DKIM.check()...)
	probs = append(probs, c.checkACME()...)
	probs = append(probs, c.checkWeb()...)
	return probs
}
