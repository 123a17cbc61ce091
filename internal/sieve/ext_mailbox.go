package sieve

import "strings"

// RFC 5490 §3: mailboxexists (fileinto :create is in core.go).

// registerMailbox adds the specs of this file (registerAll).
func registerMailbox() {
	register(&spec{name: "mailboxexists", ext: "mailbox", test: true,
		pos: []posDef{{"mailbox names", argList}}, buildTest: buildMailboxExists})
}

type mailboxExistsTest struct{ names []str }

func buildMailboxExists(c *compiler, n *node, a *args) test {
	return &mailboxExistsTest{names: c.compileList(a.pos[0])}
}

// eval is true when every named mailbox exists. Without a hook only INBOX
// exists.
func (t *mailboxExistsTest) eval(r *run) (bool, error) {
	for _, name := range r.expandList(t.names) {
		ok := strings.EqualFold(name, "INBOX")
		if r.rt.MailboxExists != nil {
			ok = r.rt.MailboxExists(name)
		}
		r.tracef("  mailbox %s => %v", name, ok)
		if !ok {
			return false, nil
		}
	}
	return true, nil
}
