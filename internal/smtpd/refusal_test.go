package smtpd

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/policy"
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

// brokenLogins is a directory whose password check fails with our own
// trouble.
type brokenLogins struct{}

func (brokenLogins) Authenticate(context.Context, string, string) (*directory.Mailbox, error) {
	return nil, errors.New("database is locked")
}

// The other refs a session shows: a login our own trouble kept from
// being checked (454 4.7.0 with a ref) reaches the observer with that
// ref, the account and the reason; a message the client leaves (a BDAT
// transfer ended without LAST, a connection closed mid-chunk or mid-DATA)
// reaches it with the ref of the log line, how the client left, and no
// reply (none reached the client).
func TestAuthTroubleAndAbandonedMessagesAreObserved(t *testing.T) {
	var mu sync.Mutex
	var got []Refusal
	observed := func(n int) []Refusal {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			g := append([]Refusal(nil), got...)
			mu.Unlock()
			if len(g) >= n {
				return g
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d refusals observed, want %d: %+v", len(g), n, g)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	certs := selfSigned(t, "mx.example.test")
	auth := &SASLAuth{Logins: brokenLogins{}, Guard: policy.NewAuthGuard(policy.AuthLimits{MaxPerIP: 10, MaxPerAccount: 10, Window: time.Minute}, policy.NewMemoryAuthStore()),
		Offer: []string{"PLAIN", "LOGIN"}}
	clock := newFakeClock()
	ts := startServer(t, mapDirectory{}, certs, nil, func(c *Config) {
		c.OnRefusal = func(r Refusal) { mu.Lock(); got = append(got, r); mu.Unlock() }
		c.Listeners = append(c.Listeners, Listener{Kind: SubmissionTLS, Addr: "127.0.0.1:0", ImplicitTLS: true,
			Policy: InboundPolicy{Directory: mapDirectory{}}, Auth: auth})
		c.Now = clock.Now
	})
	refOf := regexp.MustCompile(`\(ref ([A-Z2-7]{8})\)$`)

	tc, err := tls.Dial("tcp", ts.srv.Addrs()[1].String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, c: tc, tp: textproto.NewConn(tc)}
	t.Cleanup(func() { tc.Close() })
	c.reply()
	c.cmd("EHLO client.example.org")
	// The same trouble again within a minute shares the first's ref and
	// record (flood.go): the third try, a minute later, has its own, and
	// the first's follow-up says it covered two.
	var refs []string
	for i, try := range []func() string{
		func() string {
			return c.cmd("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00demo@example.test\x00pw")))
		},
		func() string {
			c.cmd("AUTH LOGIN")
			c.cmd(base64.StdEncoding.EncodeToString([]byte("demo@example.test")))
			return c.cmd(base64.StdEncoding.EncodeToString([]byte("pw")))
		},
		func() string {
			clock.Add(shareWindow + time.Second)
			return c.cmd("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00demo@example.test\x00pw")))
		},
	} {
		reply := try()
		m := refOf.FindStringSubmatch(reply)
		if !strings.HasPrefix(reply, "454 4.7.0 Temporary authentication failure") || m == nil {
			t.Fatalf("AUTH with the directory down: %q", reply)
		}
		refs = append(refs, m[1])
		var r Refusal
		switch i {
		case 1:
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if m[1] != refs[0] || n != 1 {
				t.Fatalf("the same AUTH trouble within a minute: ref %s, %d observed; want the first's ref %s, observed once", m[1], n, refs[0])
			}
			continue
		case 2:
			all := observed(3)
			if f := all[1]; f.Count != 2 || f.Err == nil || f.Err.Ref != refs[0] || !f.First.Equal(all[0].Time) {
				t.Errorf("follow-up of the shared ref observed as %+v, want Count 2 and ref %s", f, refs[0])
			}
			if m[1] == refs[0] {
				t.Errorf("AUTH trouble a minute later kept the ref %s, want a new one", m[1])
			}
			r = all[2]
		default:
			r = observed(1)[0]
		}
		if r.Stage != "auth" || r.Code != 454 || r.Err == nil || r.Err.Ref != m[1] || r.Account != "demo@example.test" ||
			!strings.Contains(r.Err.Sentence(), "database is locked") || r.AuthUser != "" || r.Count != 0 {
			t.Errorf("AUTH trouble observed as %+v (err %v), want stage auth, ref %s, the account and the reason", r, r.Err, m[1])
		}
	}

	// A BDAT transfer ended by RSET, then one cut off mid-chunk, then a
	// DATA cut off: no reply to any, each observed.
	p, _ := dial(t, ts.addr)
	p.cmd("EHLO client.example.org")
	p.cmd("MAIL FROM:<s@example.org>")
	p.cmd("RCPT TO:<alice@example.test>")
	if got := p.cmd("BDAT 12\r\nSubject: x"); !strings.HasPrefix(got, "250") {
		t.Fatalf("BDAT 12: %q", got)
	}
	if got := p.cmd("RSET"); !strings.HasPrefix(got, "250") {
		t.Fatalf("RSET after a chunk without LAST: %q (want the RSET's own 250 only)", got)
	}
	p.cmd("MAIL FROM:<s@example.org>")
	p.cmd("RCPT TO:<alice@example.test>")
	fmt.Fprintf(p.c, "BDAT 100 LAST\r\nSubject: half\r\n")
	p.c.Close()
	observed(5)
	clock.Add(shareWindow + time.Second) // its own ref, not p's last one's
	d, _ := dial(t, ts.addr)
	d.cmd("EHLO client.example.org")
	d.cmd("MAIL FROM:<s@example.org>")
	d.cmd("RCPT TO:<alice@example.test>")
	d.cmd("DATA")
	fmt.Fprintf(d.c, "Subject: gone\r\n\r\nhalf a body")
	d.c.Close()
	all := observed(6)
	for i, want := range []string{"ended the BDAT transfer without a LAST chunk, after 12 B", "closed the connection in the middle of the message, after 15 B",
		"closed the connection in the middle of the message, after 28 B"} {
		r := all[3+i]
		if r.Stage != "data" || r.Code != 0 || r.Text != "" || r.Err == nil || r.Err.Ref == "" || !strings.Contains(r.Err.Sentence(), want) ||
			r.From != "s@example.org" || len(r.To) != 1 {
			t.Errorf("abandoned message %d observed as %+v (err %v), want no reply, a ref and %q", i+1, r, r.Err, want)
		}
	}
}
