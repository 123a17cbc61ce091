package deliver

import (
	"context"
	"fmt"
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
		e := Refusal(a.Cfg, res)
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
	if e := Refusal(a.Cfg, ok); e != nil {
		t.Errorf("a good mailbox refused: %v", e)
	}
}
