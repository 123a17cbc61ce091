package relay

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// With SRS off (the default), a stranger's MAIL FROM:<bob@two.example>
// (two.example hosted here, its SPF listing this host and ~all, DMARC
// p=none) with From: ceo@two.example, sent to an alias that forwards out,
// used to be accepted and sent on from 127.0.0.3 with bob@two.example:
// SPF passes for that at the next hop and aligns with the From:, so the
// forgery passed DMARC there. Now it is refused at the end of DATA, while
// the stranger is connected (550 5.7.23 with a ref, explained), and
// nothing leaves. A host the SPF record lists may still use the address,
// and a stranger's own sender is forwarded as before; its copy's journal
// says that its sender was not rewritten (SRS off), as the log does.
func TestHostedSenderFailingSPFIsRefusedOnPort25(t *testing.T) {
	t.Parallel()
	rig := newForwardRig(t, "", `two.example. TXT "v=spf1 ip4:127.0.0.3 ip4:127.0.0.8 ~all"`)
	two, dump := rig.two, rig.dump

	// send returns the reply to the message.
	send := func(src, mailFrom, subject string) string {
		t.Helper()
		c := harness.DialFrom(t, two.SMTP, src)
		defer c.Close()
		c.C.SetDeadline(time.Now().Add(time.Minute))
		for _, step := range []struct{ cmd, want string }{
			{"EHLO stranger.example", "250"}, {"MAIL FROM:<" + mailFrom + ">", "250"},
			{"RCPT TO:<fwd@two.example>", "250"}, {"DATA", "354"},
		} {
			if r := c.Cmd(step.cmd); !strings.HasPrefix(r, step.want) {
				t.Fatalf("%s: %q: %q, want %s", subject, step.cmd, r, step.want)
			}
		}
		r := c.Cmd("From: The CEO <ceo@two.example>\r\nTo: fwd@two.example\r\nSubject: " + subject + "\r\n\r\nhello from outside\r\n.")
		c.Cmd("QUIT")
		return r
	}

	r := send("127.0.0.7", "bob@two.example", "forged")
	m := regexp.MustCompile(`^550 5\.7\.23 <bob@two\.example> is an address of a domain hosted here and SPF softfail for 127\.0\.0\.7.* \(ref ([A-Z2-7]{8})\)`).FindStringSubmatch(r)
	if m == nil {
		t.Fatalf("a stranger's hosted envelope sender failing SPF got %q, want 550 5.7.23 … (ref X)", r)
	}
	out := harness.Run(t, harness.AsUser(exec.Command(harness.Ebb(t), "explain", "-c", two.Conf, m[1]), two.Daemon), nil)
	for _, w := range []string{"refused at DATA from <bob@two.example> for <fwd@two.example>", "from 127.0.0.7",
		"spf=softfail", "list it in two.example's SPF record"} {
		if !strings.Contains(out.Stdout, w) {
			t.Errorf("ebb explain %s lacks %q:\n%s%s", m[1], w, out.Stdout, out.Stderr)
		}
	}

	if r := send("127.0.0.8", "bob@two.example", "listed"); !strings.HasPrefix(r, "250") {
		t.Fatalf("a host two.example's SPF lists got %q", r)
	}
	if r := send("127.0.0.7", "x@elsewhere.example", "outside"); !strings.HasPrefix(r, "250") {
		t.Fatalf("a stranger's own sender got %q", r)
	}
	for subject, want := range map[string]string{"listed": "bob@two.example", "outside": "x@elsewhere.example"} {
		got := waitDump(t, dump, subject)
		if s := regexp.MustCompile(`X-Mail-Args: <([^>]*)>`).FindStringSubmatch(got); s == nil || s[1] != want {
			t.Errorf("%s: forwarded with %v, want sender %s", subject, s, want)
		}
	}
	// SRS is off: the copy of "outside" left with the stranger's own
	// sender, which SPF at the next hop may fail. The copy's story says so
	// (principle 7: a record, the log, a metric).
	fwd := regexp.MustCompile(`forwarded to remote addresses.*forward_queue_id=([A-Z0-9]+) forwards=y@ok\.example sender=x@elsewhere\.example`).FindStringSubmatch(two.Log())
	if fwd == nil {
		t.Fatalf("no forward of the stranger's message in the log:\n%s", harness.Tail(two.Log(), 20))
	}
	out = harness.Run(t, harness.AsUser(exec.Command(harness.Ebb(t), "explain", "-c", two.Conf, fwd[1]), two.Daemon), nil)
	if want := "checked by srs: sender not rewritten: sent on with its own sender <x@elsewhere.example>, not an SRS address: srs.enable is off"; !strings.Contains(out.Stdout, want) {
		t.Errorf("ebb explain %s (the forwarded copy) lacks %q:\n%s%s", fwd[1], want, out.Stdout, out.Stderr)
	}
	if !strings.Contains(two.Log(), "srs: sender not rewritten: srs.enable is off") {
		t.Errorf("the log does not say the copy's sender was not rewritten")
	}
	ents, _ := os.ReadDir(dump)
	for _, e := range ents {
		if b, _ := os.ReadFile(filepath.Join(dump, e.Name())); strings.Contains(string(b), "Subject: forged") {
			t.Errorf("the forgery was forwarded:\n%s", b)
		}
	}
	if t.Failed() {
		t.Logf("two's log:\n%s", harness.Tail(two.Log(), 30))
	}
}
