package deliver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/directory"
)

// Refusal says at RCPT what the delivery would say in its bounce: same
// code, same public text.
func TestRefusalIsWhatTheDeliveryWouldSay(t *testing.T) {
	a, _ := newAgent(t)
	a.Cfg.Mail.OverQuota = "permanent"
	a.Cfg.Mail.QuotaMessages = 1
	for _, tc := range []struct {
		addr string
		mb   *directory.Mailbox
		want string
	}{
		{"off@example.com", &directory.Mailbox{Address: "off@example.com", Enabled: false}, "550 5.2.1 Mailbox disabled"},
		{"a/b@example.com", &directory.Mailbox{Address: "a/b@example.com", Enabled: true}, "550 5.1.3 Bad mailbox address"},
		{"full@example.com", &directory.Mailbox{Address: "full@example.com", Enabled: true}, "552 5.2.2 Mailbox full"},
	} {
		a.Resolver = resolver{tc.addr: {Address: tc.addr, Mailboxes: []*directory.Mailbox{tc.mb}}}
		if tc.addr == "full@example.com" {
			// One message fills a quota of one.
			if _, err := a.Deliver(context.Background(), strings.NewReader("Subject: 1\n\nx\n"), Envelope{Recipient: tc.addr}); err != nil {
				t.Fatal(err)
			}
		}
		res := &directory.Resolution{Address: tc.addr, Mailboxes: []*directory.Mailbox{tc.mb}}
		e := Refusal(a.Cfg, res, 0)
		if e == nil {
			t.Errorf("%s: no refusal", tc.addr)
			continue
		}
		code, enh, text := e.SMTPReply()
		got := fmt.Sprintf("%d %d.%d.%d %s", code, enh[0], enh[1], enh[2], text)
		if !strings.HasPrefix(got, tc.want) || e.Temporary() {
			t.Errorf("%s: refusal %q (%s), want %q, permanent", tc.addr, got, e.Class, tc.want)
		}
		_, err := a.Deliver(context.Background(), strings.NewReader("Subject: 2\n\nx\n"), Envelope{Recipient: tc.addr})
		de, ok := err.(interface{ SMTPReply() (int, [3]int, string) })
		if !ok {
			t.Fatalf("%s: delivery error %v", tc.addr, err)
		}
		dcode, denh, dtext := de.SMTPReply()
		if dcode != code || denh != enh || strings.Split(dtext, " (ref")[0] != strings.Split(text, " (ref")[0] {
			t.Errorf("%s: RCPT says %d %v %q, the delivery %d %v %q", tc.addr, code, enh, text, dcode, denh, dtext)
		}
	}
	ok := &directory.Resolution{Mailboxes: []*directory.Mailbox{{Address: "alice@example.com", Enabled: true}}}
	if e := Refusal(a.Cfg, ok, 0); e != nil {
		t.Errorf("a good mailbox refused: %v", e)
	}
}

// A message larger than a mailbox's whole quota can never be stored:
// Refusal says so (552 5.2.2) whatever mail.over_quota says, with the
// delivery's own reason, and the size it is given is the size the
// delivery counts (MeasureStaged). Under over_quota = "permanent" the fill
// counts too.
func TestRefusalOfAMessageLargerThanTheQuota(t *testing.T) {
	a, root := newAgent(t)
	a.Cfg.Mail.Quota = 2000
	own := &directory.Mailbox{Address: "own@example.com", Enabled: true, QuotaBytes: 600}
	alice := &directory.Mailbox{Address: "alice@example.com", Enabled: true}
	a.Resolver = resolver{"alice@example.com": {Address: "alice@example.com", Mailboxes: []*directory.Mailbox{alice}},
		"own@example.com": {Address: "own@example.com", Mailboxes: []*directory.Mailbox{own}}}
	resOf := func(mb *directory.Mailbox) *directory.Resolution {
		return &directory.Resolution{Address: mb.Address, Mailboxes: []*directory.Mailbox{mb}}
	}

	// The spool file holds CRLF; the stored copy has LF and a prefix.
	spool := filepath.Join(t.TempDir(), "msg")
	body := "Subject: big\r\n\r\n" + strings.Repeat("0123456789012345678901234567890123456789\r\n", 30)
	if err := os.WriteFile(spool, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	env := Envelope{Sender: "s@example.org", Prefix: []byte("Received: from x\r\n\tby mx.test; Mon, 7 Dec 2026 20:00:00 +0000\r\n")}
	ms, err := a.MeasureStaged(spool, env, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	bound := ms.For("alice@example.com")
	env.Recipient = "alice@example.com"
	rep, err := a.DeliverFile(context.Background(), spool, env)
	if err != nil || len(rep.Outcomes) != 1 || len(rep.Outcomes[0].Files) != 1 {
		t.Fatalf("delivery to alice: %v %+v", err, rep)
	}
	st, err := os.Stat(rep.Outcomes[0].Files[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := ms.Exact(); err != nil {
		t.Fatal(err)
	}
	size := ms.For("alice@example.com")
	if size != st.Size() || bound != size+32 {
		t.Fatalf("MeasureStaged says %d bytes (bound %d, 32 CRLFs), the delivery stored %d", size, bound, st.Size())
	}
	if size <= own.QuotaBytes || size >= int64(a.Cfg.Mail.Quota) {
		t.Fatalf("test message of %d bytes does not sit between the quotas", size)
	}

	for _, mode := range []string{"temporary", "permanent"} {
		a.Cfg.Mail.OverQuota = mode
		// Larger than own's 600 bytes: refused with the delivery's reason.
		e := Refusal(a.Cfg, resOf(own), size)
		if e == nil {
			t.Fatalf("%s: a %d-byte message for a 600-byte mailbox not refused", mode, size)
		}
		code, enh, text := e.SMTPReply()
		if code != 552 || enh != [3]int{5, 2, 2} || e.Temporary() || strings.Contains(text, root) {
			t.Errorf("%s: refusal %d %v %q (%s), want 552 5.2.2 permanent, no path", mode, code, enh, text, e.Class)
		}
		if !strings.Contains(e.Reason, "larger than the limit itself") || !strings.Contains(e.Hint, "raise its quota above the message's size") ||
			strings.Contains(e.Hint, "queue.lifetime") || e.Setting == nil || !strings.Contains(e.Setting.Key, "quota of own@example.com") {
			t.Errorf("%s: refusal's words: reason %q hint %q setting %+v", mode, e.Reason, e.Hint, e.Setting)
		}
		// The delivery meets the same quota error.
		_, derr := a.DeliverFile(context.Background(), spool, Envelope{Sender: env.Sender, Prefix: env.Prefix, Recipient: own.Address})
		if derr == nil || !strings.Contains(derr.Error(), "larger than the limit itself") {
			t.Errorf("%s: the delivery to own: %v", mode, derr)
		}
		// Nothing declared, or a size that fits: no refusal.
		for _, n := range []int64{0, 1, 600} {
			if e := Refusal(a.Cfg, resOf(own), n); e != nil {
				t.Errorf("%s: %d bytes refused: %v", mode, n, e)
			}
		}
		// alice holds one message (size bytes) of her 2000: another fits
		// the whole quota; it fits her fill only while 2*size <= 2000.
		e = Refusal(a.Cfg, resOf(alice), 2000-size+1)
		if mode == "temporary" && e != nil {
			t.Errorf("temporary: alice refused for her fill: %v", e)
		}
		if mode == "permanent" {
			if e == nil {
				t.Errorf("permanent: alice not refused for her fill")
			} else if code, enh, text := e.SMTPReply(); code != 552 || enh != [3]int{5, 2, 2} || !strings.HasPrefix(text, "Mailbox full") {
				t.Errorf("permanent: alice's refusal %d %v %q", code, enh, text)
			}
		}
		if e := Refusal(a.Cfg, resOf(alice), 2000-size); e != nil {
			t.Errorf("%s: a message that fits alice's fill refused: %v", mode, e)
		}
	}
	if !SizeMatters(a.Cfg, resOf(alice)) {
		t.Error("SizeMatters: alice has mail.quota")
	}
	a.Cfg.Mail.Quota = 0
	if SizeMatters(a.Cfg, resOf(alice)) || !SizeMatters(a.Cfg, resOf(own)) {
		t.Error("SizeMatters: only own has a byte quota")
	}
}

// LoopRefusalFor, given the Delivered-To values the queue read on
// receive, says what LoopRefusal says reading the file.
func TestLoopRefusalForIsLoopRefusal(t *testing.T) {
	res := &directory.Resolution{Address: "loop@example.com", Mailboxes: []*directory.Mailbox{{Address: "bob@example.com", Enabled: true}}}
	for _, hdr := range []string{
		"Subject: none\r\n",
		"Delivered-To: other@example.net\r\n",
		"Delivered-To: other@example.net\r\nDelivered-To:\r\n <BOB@example.com>\r\n",
		"Delivered-To: loop@example.com\r\n",
	} {
		p := filepath.Join(t.TempDir(), "m")
		os.WriteFile(p, []byte(hdr+"\r\nbody\r\n"), 0o600)
		var values []string
		for _, l := range strings.Split(strings.ReplaceAll(hdr, "\r\n ", " "), "\r\n") {
			if v, ok := strings.CutPrefix(l, "Delivered-To:"); ok {
				values = append(values, strings.TrimSpace(v))
			}
		}
		want, unread := LoopRefusal(p, "loop@example.com", res)
		got := LoopRefusalFor(values, "loop@example.com", res)
		if unread != nil {
			t.Errorf("%q: %v", hdr, unread)
		}
		if (want == nil) != (got == nil) || want != nil && (want.Error() != got.Error() || want.SMTPCode != got.SMTPCode) {
			t.Errorf("%q: from the file %v, from the values %v", hdr, want, got)
		}
	}
}
