package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// bob on two.example submits one message with DSN parameters (RFC 3461)
// to four recipients: alice on the other instance (NOTIFY=SUCCESS), one
// the remote refuses (550), one greylisted for good (451) and one with
// NOTIFY=NEVER that is refused too. Bob gets, parsed with go-message:
// the success DSN made by one.example (two passed NOTIFY and ENVID on:
// one offers DSN), a failure DSN quoting the remote, a delay notice
// quoting the greylisting server, and nothing for NOTIFY=NEVER.
func TestDSNsLeaveWithTheRemoteTranscript(t *testing.T) {
	t.Parallel()
	p := harness.NewPair(t, harness.PairOpts{Hosts: map[string]string{"greylist": "127.0.0.4", "nouser": "127.0.0.5"},
		Two: harness.OutOpts{Queue: "delay_notice = \"1s\"\nretry_min = \"1s\"\nretry_max = \"2s\""}})
	one, two := p.One, p.Two
	harness.StartSMTPSink(t, p.At("127.0.0.4"), "-r", "RCPT", "-b", "451 4.7.1 greylisted, try later")
	harness.StartSMTPSink(t, p.At("127.0.0.5"), "-f", "RCPT", "-B", "550 5.1.1 no such user here")

	c := harness.DialSMTP(t, "", two.Sub, false)
	c.StartTLS()
	if code, msg := c.AuthPlain("bob@two.example", harness.OutPass); code != 235 {
		t.Fatalf("AUTH: %d %s", code, msg)
	}
	c.Must(250, "MAIL FROM:<bob@two.example> RET=HDRS ENVID=e2e-42")
	for to, n := range map[string]string{
		"alice@one.example":  "SUCCESS,FAILURE",
		"b@nouser.example":   "FAILURE",
		"g@greylist.example": "DELAY,FAILURE",
		"n@nouser.example":   "NEVER",
	} {
		c.Must(250, "RCPT TO:<"+to+"> NOTIFY="+n+" ORCPT=rfc822;orig-"+to)
	}
	c.Must(354, "DATA")
	c.Must(250, "From: bob@two.example\r\nTo: alice@one.example\r\nSubject: with DSN\r\nMessage-ID: <dsn-e2e@two.example>\r\n\r\nbody\r\n.")
	c.Cmd("QUIT")

	one.WaitMail("alice", 1, 20*time.Second)
	msgs := two.WaitMail("bob", 3, 40*time.Second)
	var success, failure, delay int
	for _, m := range msgs {
		d := parseDSNMail(t, m)
		if d.PerMessage["original-envelope-id"] != "e2e-42" {
			t.Errorf("ENVID not kept: %+v", d.PerMessage)
		}
		if len(d.Recipients) != 1 {
			t.Errorf("one recipient per DSN expected here: %+v", d.Recipients)
			continue
		}
		r := d.Recipients[0]
		switch r["action"] {
		case "delivered":
			success++
			// Made by the receiving instance: two passed NOTIFY on.
			if d.PerMessage["reporting-mta"] != "dns; mx.one.example" || r["final-recipient"] != "rfc822; alice@one.example" ||
				r["original-recipient"] != "rfc822; orig-alice@one.example" || r["status"] != "2.0.0" {
				t.Errorf("success DSN %+v %+v", d.PerMessage, r)
			}
		case "failed":
			failure++
			for k, want := range map[string]string{"final-recipient": "rfc822; b@nouser.example", "status": "5.1.1",
				"remote-mta": "dns; mx.nouser.example", "diagnostic-code": "smtp; 550 5.1.1 no such user here",
				"original-recipient": "rfc822; orig-b@nouser.example"} {
				if r[k] != want {
					t.Errorf("failure DSN %s = %q, want %q", k, r[k], want)
				}
			}
			// RET=HDRS: headers only.
			if !strings.Contains(d.Returned, "Subject: with DSN") || strings.Contains(d.Returned, "body") {
				t.Errorf("returned content %q", d.Returned)
			}
		case "delayed":
			delay++
			if r["final-recipient"] != "rfc822; g@greylist.example" || r["status"] != "4.7.1" ||
				r["diagnostic-code"] != "smtp; 451 4.7.1 greylisted, try later" || r["will-retry-until"] == "" {
				t.Errorf("delay notice %+v", r)
			}
		default:
			t.Errorf("unexpected DSN action %q: %+v", r["action"], r)
		}
	}
	if success != 1 || failure != 1 || delay != 1 {
		t.Fatalf("DSNs: %d success, %d failure, %d delay; want 1 each", success, failure, delay)
	}
	// No more: nothing for NOTIFY=NEVER, no "relayed" report from two, no
	// second delay notice. Wait until two has decided NEVER's case, every
	// message two queued but the greylisted original is done, and the
	// original has been tried twice more since the delay notice.
	retries := func() int { return strings.Count(two.Log(), "rcpt=g@greylist.example") }
	since := retries()
	harness.WaitFor(t, "two to settle (NOTIFY=NEVER decided, the DSNs done, two more greylisted tries)", 30*time.Second, func() bool {
		l := two.Log()
		return strings.Contains(l, "rcpt=n@nouser.example") && strings.Contains(l, "no bounce: the sender's NOTIFY leaves out FAILURE") &&
			strings.Count(l, "msg=queued ")-1 == strings.Count(l, "msg=removed ") && retries() >= since+2
	})
	if n := two.Count("bob"); n != 3 {
		t.Fatalf("bob has %d messages, want 3", n)
	}
}

// A message that waits too long on the forwarding host expires there, and
// the expiry bounce reaches the sender on another instance: Status 4.4.7
// with the last remote reply quoted (no SRS here: the copy keeps alice's
// address as its sender).
func TestExpiryBounceReachesARemoteSender(t *testing.T) {
	t.Parallel()
	p := harness.NewPair(t, harness.PairOpts{Hosts: map[string]string{"greylist": "127.0.0.4"},
		Two: harness.OutOpts{Queue: "lifetime = \"3s\"\ndelay_notice = \"0s\"\nretry_min = \"1s\"\nretry_max = \"1s\""}})
	one, two := p.One, p.Two
	harness.StartSMTPSink(t, p.At("127.0.0.4"), "-r", "RCPT", "-b", "451 4.7.1 greylisted, try later")
	harness.EbbAs(t, two.Daemon, nil, "alias", "add", "-c", two.Conf, "fwd@two.example", "g@greylist.example")

	one.Submit("alice@one.example", "fwd@two.example", "will expire")
	d := parseDSNMail(t, one.WaitMail("alice", 1, 30*time.Second)[0])
	r := dsnRecipient(t, d, "g@greylist.example")
	for k, want := range map[string]string{"action": "failed", "status": "4.4.7", "remote-mta": "dns; mx.greylist.example",
		"diagnostic-code": "smtp; 451 4.7.1 greylisted, try later", "original-recipient": "rfc822; fwd@two.example"} {
		if r[k] != want {
			t.Errorf("%s = %q, want %q (all: %+v)", k, r[k], want, r)
		}
	}
	if d.PerMessage["reporting-mta"] != "dns; mx.two.example" || !strings.Contains(d.Human, "Delivery time expired") {
		t.Errorf("per-message %+v, human:\n%s", d.PerMessage, d.Human)
	}
	two.WaitMailq(10*time.Second, "Mail queue is empty")
}
