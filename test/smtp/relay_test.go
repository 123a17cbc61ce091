package smtp

import (
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// The relay matrix of issue 5, written as a client puts it on the wire.
// ours is a hosted domain; remote.example is not.
var relayTricks = []struct {
	name, rcpt string
}{
	{"plain remote", "<user@remote.example>"},
	{"percent hack", "<user%remote.example@example.test>"},
	{"source route", "<@example.test:user@remote.example>"},
	{"source route, two hops", "<@example.test,@mx.example.test:user@remote.example>"},
	{"quoted local part holding an address", `<"user@remote.example"@example.test>`},
	{"two @", "<user@remote.example@example.test>"},
	{"bang path", "<remote.example!user>"},
	{"bang path at our domain", "<remote.example!user@example.test>"},
	{"IPv4 literal", "<user@[192.0.2.1]>"},
	{"our own address as a literal", "<demo@[127.0.0.1]>"},
	{"IPv6 literal", "<user@[IPv6:2001:db8::1]>"},
	{"mixed case remote", "<User@REMOTE.Example>"},
	{"trailing dot remote", "<user@remote.example.>"},
	{"remote ending in our name", "<user@notexample.test>"},
	{"our name inside a remote one", "<user@example.test.remote.example>"},
	{"no brackets", "user@remote.example"},
	{"empty path", "<>"},
	{"no domain", "<user>"},
	{"empty domain", "<user@>"},
	{"very long local part", "<" + strings.Repeat("a", 300) + "@remote.example>"},
	{"very long address at ours", "<" + strings.Repeat("b", 1500) + "@example.test>"},
	{"very long domain", "<u@" + strings.Repeat("c.", 600) + "remote.example>"},
}

// From a stranger (127.0.0.2 is not in trusted_networks), unauthenticated:
// on port 25 every trick is refused at RCPT, with the empty and the null
// sender alike; on 587 nothing is accepted without AUTH. Nothing reaches
// the queue, and the server stays up.
func TestRelayMatrixFromAStranger(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnv(t, "")
	for _, sender := range []string{"<stranger@remote.example>", "<>", "<demo@example.test>"} {
		c := harness.DialSMTP(t, "127.0.0.2", e.SMTP, false)
		c.Must(250, "EHLO stranger.example")
		for _, tc := range relayTricks {
			if code, _ := c.Cmd("RSET"); code != 250 {
				// A very long line may have been answered with a close;
				// start again.
				c = harness.DialSMTP(t, "127.0.0.2", e.SMTP, false)
				c.Must(250, "EHLO stranger.example")
			}
			if code, msg := c.Cmd("MAIL FROM:%s", sender); code != 250 {
				t.Fatalf("MAIL FROM:%s: %d %s", sender, code, msg)
			}
			code, msg := c.Cmd("RCPT TO:%s", tc.rcpt)
			if code < 500 {
				t.Errorf("port 25, sender %s, %s: RCPT TO:%s got %d %s, want a 5xx refusal", sender, tc.name, clipRcpt(tc.rcpt), code, msg)
			}
			if code, _ := c.Cmd("DATA"); code == 354 {
				t.Fatalf("%s: DATA accepted", tc.name)
			}
		}
		c.Cmd("QUIT")
	}
	// 587 without AUTH: refused at MAIL, the recipient never matters.
	c := harness.DialSMTP(t, "127.0.0.2", e.Sub, false)
	c.StartTLS()
	for _, tc := range relayTricks[:3] {
		c.Cmd("RSET")
		if code, msg := c.Cmd("MAIL FROM:<stranger@remote.example>"); code != 530 {
			t.Errorf("587 unauthenticated %s: MAIL %d %s, want 530", tc.name, code, msg)
		}
		if code, _ := c.Cmd("RCPT TO:%s", tc.rcpt); code < 500 {
			t.Errorf("587 unauthenticated %s: RCPT got %d", tc.name, code)
		}
	}
	if q := e.QueueFiles(); len(q) != 0 {
		t.Errorf("the queue is not empty: %v\n%s", q, e.Mailq())
	}
	// Still serving.
	harness.DialSMTP(t, "127.0.0.2", e.SMTP, false).Must(250, "EHLO still.there")
}

// A logged-in user may relay to remote domains, but the routing tricks are
// refused for them too: they never reach the queue.
func TestRelayTricksRefusedAfterAuth(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnv(t, "")
	c := harness.DialSMTP(t, "127.0.0.2", e.Sub, false)
	c.StartTLS()
	if code, msg := c.AuthPlain("demo@example.test", harness.DemoPass); code != 235 {
		t.Fatalf("AUTH: %d %s", code, msg)
	}
	for _, tc := range relayTricks {
		legit := map[string]bool{"plain remote": true, "IPv4 literal": true, "IPv6 literal": true, "our own address as a literal": true,
			"mixed case remote": true, "trailing dot remote": true, "remote ending in our name": true, "our name inside a remote one": true,
			"no brackets": true, "source route": true, "source route, two hops": true}
		c.Cmd("RSET")
		if code, msg := c.Cmd("MAIL FROM:<demo@example.test>"); code != 250 {
			t.Fatalf("MAIL: %d %s", code, msg)
		}
		code, msg := c.Cmd("RCPT TO:%s", tc.rcpt)
		if legit[tc.name] {
			// Remote mail for a known user: accepted for the queue
			// (a source route is ignored, RFC 5321 §4.1.1.3; a path
			// without angle brackets is read as the address it is, as
			// Postfix and Exim do).
			if code != 250 {
				t.Errorf("%s: RCPT TO:%s got %d %s, want 250", tc.name, clipRcpt(tc.rcpt), code, msg)
			}
			continue
		}
		if code < 500 {
			t.Errorf("%s: RCPT TO:%s got %d %s, want a 5xx refusal", tc.name, clipRcpt(tc.rcpt), code, msg)
		}
	}
	c.Cmd("QUIT")
	if q := e.QueueFiles(); len(q) != 0 {
		t.Errorf("the queue is not empty (nothing was sent with DATA): %v", q)
	}
}

func clipRcpt(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
