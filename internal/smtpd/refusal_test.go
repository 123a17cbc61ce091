package smtpd

import (
	"regexp"
	"sync"
	"syscall"
	"testing"

	"github.com/ebbmail/ebb/internal/diag"
)

// Every refusal at MAIL, RCPT and DATA carries a reference id in its reply,
// and the observer gets that same id with the reason: a policy's answer,
// the client's own trouble at DATA, and our trouble before a queue id.
func TestEveryRefusalIsObservedWithTheRefOfItsReply(t *testing.T) {
	var mu sync.Mutex
	var got []Refusal
	ts := startServer(t, mapDirectory{}, nil, func(o *Options) { o.MaxMessageBytes = 200 },
		func(c *Config) { c.OnRefusal = func(r Refusal) { mu.Lock(); got = append(got, r); mu.Unlock() } })
	sp := ts.spool
	refOf := regexp.MustCompile(`\(ref ([A-Z2-7]{8})\)$`)
	c, _ := dial(t, ts.addr)
	c.cmd("EHLO client.example.org")
	var replies []string
	replies = append(replies, c.cmd("MAIL FROM:<alice%example.org@example.test>"))
	c.cmd("MAIL FROM:<s@example.org>")
	replies = append(replies, c.cmd("RCPT TO:<nobody@example.test>"))
	c.cmd("RCPT TO:<alice@example.test>")
	big := make([]byte, 400)
	for i := range big {
		big[i] = 'x'
	}
	replies = append(replies, c.data("Subject: big\r\n\r\n"+string(big)))
	// Our own trouble: the spool cannot be written.
	sp.mu.Lock()
	sp.err = diag.PathError("ebb serve", "create", "create a file in", sp.dir, syscall.EACCES, &diag.Setting{Key: "queue.spool", Value: sp.dir})
	sp.mu.Unlock()
	c.cmd("RSET")
	c.cmd("MAIL FROM:<s@example.org>")
	c.cmd("RCPT TO:<alice@example.test>")
	replies = append(replies, c.data("Subject: small\r\n\r\nhi"))

	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(replies) {
		t.Fatalf("%d refusals observed for %d refused replies %q: %+v", len(got), len(replies), replies, got)
	}
	for i, want := range []struct {
		stage string
		code  int
		to    int
	}{{"mail", 553, 0}, {"rcpt", 550, 1}, {"data", 552, 1}, {"data", 451, 1}} {
		r, reply := got[i], replies[i]
		m := refOf.FindStringSubmatch(reply)
		if m == nil {
			t.Errorf("%s: reply %q has no ref", want.stage, reply)
			continue
		}
		if r.Stage != want.stage || r.Code != want.code || r.Err == nil || r.Err.Ref != m[1] || len(r.To) != want.to {
			t.Errorf("reply %q observed as %s %d ref %v to %v", reply, r.Stage, r.Code, r.Err, r.To)
		}
		if r.Err != nil && r.Err.Reason == "" {
			t.Errorf("%s: no reason", want.stage)
		}
	}
	if e := got[3].Err; e.Path != sp.dir || e.Hint == "" || e.Setting == nil {
		t.Errorf("our trouble lost its diagnosis: %s", e.Sentence())
	}
}
