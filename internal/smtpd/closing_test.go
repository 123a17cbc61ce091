package smtpd

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Every reply the engine sends on its own that refuses or closes — a
// command or data timeout, too many unrecognised commands, a command line
// too long, SIZE= over the limit, a recipient over the limit, a
// connection over the limits —
// ends with a ref, and the observer gets that refusal with the same ref,
// the reply as sent and why (principle 1: ebb explain REF tells it).
func TestEngineRefusalsCarryARefAndAreObserved(t *testing.T) {
	var mu sync.Mutex
	var got []Refusal
	ts := startServer(t, mapDirectory{}, nil, func(o *Options) {
		o.CommandTimeout, o.DataTimeout = 400*time.Millisecond, 400*time.Millisecond
		o.MaxPerIP, o.MaxConnections = 1, 10
	}, func(c *Config) {
		c.OnRefusal = func(r Refusal) { mu.Lock(); got = append(got, r); mu.Unlock() }
	})
	refOf := regexp.MustCompile(`\(ref ([A-Z2-7]{8})\)$`)
	observed := func(ref string) Refusal {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			for _, r := range got {
				if r.Err != nil && r.Err.Ref == ref {
					mu.Unlock()
					return r
				}
			}
			mu.Unlock()
			if time.Now().After(deadline) {
				t.Fatalf("no refusal observed with ref %s: %+v", ref, got)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	check := func(name, reply, wantReply, stage, why string) {
		t.Helper()
		m := refOf.FindStringSubmatch(reply)
		if !strings.HasPrefix(reply, wantReply) || m == nil {
			t.Errorf("%s: reply %q, want %q … (ref X)", name, reply, wantReply)
			return
		}
		r := observed(m[1])
		text := fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Text)
		if text != reply || r.Stage != stage || !strings.Contains(r.Err.Sentence(), why) || r.Err.Hint == "" || r.RemoteIP != "127.0.0.1" {
			t.Errorf("%s: observed %+v (%q, err %v), want the reply as sent, stage %s, %q and a hint", name, r, text, r.Err, stage, why)
		}
	}
	// One at a time: one connection per IP.
	one := func(f func(c *client)) {
		c, greet := dial(t, ts.addr)
		if !strings.HasPrefix(greet, "220") {
			t.Fatalf("greeting %q", greet)
		}
		f(c)
		c.c.Close()
		// Wait for the slot to be free again.
		deadline := time.Now().Add(10 * time.Second)
		for {
			ts.srv.mu.Lock()
			n := ts.srv.total
			ts.srv.mu.Unlock()
			if n == 0 || time.Now().After(deadline) {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	one(func(c *client) {
		check("command timeout", c.reply(), "421 4.4.2 mx.example.test Timeout waiting for the client, closing connection", "connection",
			"the client sent no complete command within 400ms (smtp.command_timeout)")
	})
	one(func(c *client) {
		c.cmd("EHLO c")
		c.cmd("MAIL FROM:<s@example.org>")
		c.cmd("RCPT TO:<alice@example.test>")
		c.cmd("DATA")
		c.c.Write([]byte("Subject: slow\r\n\r\nhalf"))
		check("data timeout", c.reply(), "421 4.4.2 mx.example.test Timeout waiting for the client, closing connection", "data",
			"the client sent nothing more within the data timeout")
	})
	one(func(c *client) {
		for i := 0; i < maxErrors+1; i++ {
			c.cmd("GET / HTTP/1.0")
		}
		check("too many errors", c.reply(), "421 4.7.0 mx.example.test Too many unrecognized commands", "connection", "too many commands that are none")
	})
	one(func(c *client) {
		c.cmd("EHLO c")
		check("line too long", c.cmd("NOOP "+strings.Repeat("x", maxLineLength+10)), "500 5.5.2 Line longer than", "connection",
			fmt.Sprintf("a command line longer than %d octets", maxLineLength))
	})
	one(func(c *client) {
		c.cmd("EHLO c")
		check("SIZE over the limit", c.cmd("MAIL FROM:<s@example.org> SIZE=20000"), "552 5.3.4 Message too big", "mail",
			"larger than the 10000 octets taken (SIZE=, smtp.max_message_size)")
		c.cmd("MAIL FROM:<s@example.org>")
		for i := 0; i < 3; i++ {
			c.cmd("RCPT TO:<alice@example.test>")
		}
		check("too many recipients", c.cmd("RCPT TO:<bob@example.test>"), "452 4.5.3 Too many recipients", "rcpt", "the most taken in one (smtp.max_recipients)")
	})
	// A session at its longest time (BoundedListener, as ebb serve's
	// listeners are), though it keeps sending commands.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts3 := startServer(t, mapDirectory{}, nil, nil, func(c *Config) {
		c.OnRefusal = func(r Refusal) { mu.Lock(); got = append(got, r); mu.Unlock() }
		c.Listeners[0].Net = BoundedListener(ln, 600*time.Millisecond, false)
	})
	c, _ := dial(t, ts3.srv.Addrs()[0].String())
	for {
		r := c.cmd("NOOP")
		if !strings.HasPrefix(r, "250") {
			check("max session time", r, "421 4.4.2 mx.example.test Timeout waiting for the client", "connection",
				"the session reached its longest time (smtp.max_session_time)")
			break
		}
	}

	// A session that reaches its longest time in the middle of a message:
	// the 421's ref tells that bound (smtp.max_session_time), not the
	// data timeout, which was far off.
	ln4, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts4 := startServer(t, mapDirectory{}, nil, nil, func(c *Config) {
		c.OnRefusal = func(r Refusal) { mu.Lock(); got = append(got, r); mu.Unlock() }
		c.Listeners[0].Net = BoundedListener(ln4, 2*time.Second, false)
	})
	c4, _ := dial(t, ts4.srv.Addrs()[0].String())
	c4.cmd("EHLO c")
	c4.cmd("MAIL FROM:<s@example.org>")
	c4.cmd("RCPT TO:<alice@example.test>")
	c4.cmd("DATA")
	c4.c.Write([]byte("Subject: long\r\n\nhalf"))
	check("max session time in DATA", c4.reply(), "421 4.4.2 mx.example.test Timeout waiting for the client", "data",
		"the session reached its longest time (smtp.max_session_time)")

	// Over the connection limits (a server whose timeouts do not free
	// the slot within admitGrace).
	ts2 := startServer(t, mapDirectory{}, nil, func(o *Options) { o.MaxPerIP = 1 }, func(c *Config) {
		c.OnRefusal = func(r Refusal) { mu.Lock(); got = append(got, r); mu.Unlock() }
	})
	dial(t, ts2.addr)
	_, greet := dial(t, ts2.addr)
	check("connections per IP", greet, "421 4.7.0 mx.example.test Too many connections from your address", "connection", "smtp.max_connections_per_ip")
}

// On an implicit-TLS listener (465) a connection over the limits gets its
// 421 over TLS, after the handshake, where the client can read it. The
// refusal is observed (journaled) before the handshake: a client that never
// completes one is observed all the same, and a TLS client refused next,
// from the same address within the minute, reads that ref (flood.go).
func TestImplicitTLSRefusalIsSentOverTLS(t *testing.T) {
	var mu sync.Mutex
	var got []Refusal
	ts := startServer(t, mapDirectory{}, selfSigned(t, "mx.example.test"), func(o *Options) {
		o.MaxPerIP = 1
		o.CommandTimeout = time.Minute // the admitted client idles throughout
	}, func(c *Config) {
		c.OnRefusal = func(r Refusal) { mu.Lock(); got = append(got, r); mu.Unlock() }
		c.Listeners = []Listener{{Kind: SubmissionTLS, Addr: "127.0.0.1:0", ImplicitTLS: true, Policy: InboundPolicy{Directory: mapDirectory{}}}}
	})
	observed := func() Refusal {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			g := append([]Refusal(nil), got...)
			mu.Unlock()
			if len(g) > 0 {
				return g[0]
			}
			if time.Now().After(deadline) {
				t.Fatal("no refusal observed")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	dialTLS := func() (*client, string) {
		t.Helper()
		tc, err := tls.Dial("tcp", ts.addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		t.Cleanup(func() { tc.Close() })
		c := &client{t: t, c: tc, tp: textproto.NewConn(tc)}
		return c, c.reply()
	}
	if _, g := dialTLS(); !strings.HasPrefix(g, "220 ") {
		t.Fatalf("first client: %q, want 220", g)
	}
	// Plain TCP that never starts TLS: refused, observed with a ref, and
	// sent nothing in plaintext.
	plain, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	r := observed()
	if r.Stage != "connection" || r.Code != 421 || r.Err == nil || r.Err.Ref == "" || r.Kind != SubmissionTLS {
		t.Fatalf("refusal of a client without TLS observed as %+v (err %v), want the 421 on the 465 listener with a ref", r, r.Err)
	}
	plain.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _ := plain.Read(make([]byte, 64)); n > 0 {
		t.Errorf("the refused client got %d bytes in plaintext on the implicit-TLS listener", n)
	}
	// A TLS client refused next reads the 421 over TLS, with that ref.
	_, g := dialTLS()
	m := regexp.MustCompile(`^421 4\.7\.0 mx\.example\.test Too many connections from your address.*\(ref ([A-Z2-7]{8})\)$`).FindStringSubmatch(g)
	if m == nil || m[1] != r.Err.Ref {
		t.Fatalf("second client read %q over TLS, want the 421 with ref %s", g, r.Err.Ref)
	}
}
