package config

import (
	"fmt"
	"regexp"
)

var placeholder = regexp.MustCompile(`\{[^}]*\}`)

// check holds the rules that span keys or look inside values.
func (c *Config) check() []Problem {
	var probs []Problem
	for _, p := range placeholder.FindAllString(c.Mail.Maildir, -1) {
		switch p {
		case "{root}", "{domain}", "{local}", "{address}":
		default:
			probs = append(probs, Problem{Key: "mail.maildir", Msg: fmt.Sprintf("mail.maildir: unknown placeholder %s; use {root}, {domain}, {local} or {address}", p)})
		}
	}
	probs = append(probs, c.Relay.check()...)
	probs = append(probs, c.Auth.check()...)
	probs = append(probs, c.DKIM.check()...)
	return probs
}
