package scan

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Issue 24: a scanner's reply without its verdict is no verdict. Real
// rspamd, whose settings skip a sender (a rule applying flags = ["skip"],
// as an admin writes to exempt one), answers is_skipped with score 0 and
// "no action": ebb recorded that as ham, score 0, and wrote
// X-Spam-Status: No, score=0.0 into the message. Now the message is
// skipped by rspamd, said in the coverage header, counted and logged with
// the fix; no spam verdict header claims a score nobody computed.
func TestScanRspamdSkippedIsNotHam(t *testing.T) {
	t.Parallel()
	rs := harness.SharedRspamd(t)
	e := harness.NewServeEnv(t, harness.ServeOpts{Extra: fmt.Sprintf("[scan.rspamd]\naddress = %q\non_failure = \"tempfail\"\n", rs.Addr)})
	msg := "From: Skip <" + harness.RspamdSkipSender + ">\r\nTo: alice@example.test\r\nSubject: skipped\r\nMessage-ID: <skip.1@rspamd-skip.test>\r\nDate: " +
		time.Now().UTC().Format(time.RFC1123Z) + "\r\n\r\nrspamd's settings skip this sender\r\n"
	if r := scanSendFrom(t, e.SMTP, harness.RspamdSkipSender, "alice@example.test", msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("reply %q, want 250: rspamd skipped on purpose, not a failure for on_failure to decide\n%s", r, scanLines(e.Log(), "scan"))
	}
	e.WaitCount("alice", 1, 15*time.Second)
	m := scanUnfold(e.Messages("alice")[0])
	if !strings.Contains(m, "X-Ebb-Scan: rspamd=skipped (rspamd skipped its checks (is_skipped, rspamd's settings))") {
		t.Errorf("coverage header:\n%.600s", m)
	}
	for _, h := range []string{"X-Spam-Status:", "X-Spam-Score:", "X-Rspamd-Score:"} {
		if strings.Contains(m, h) {
			t.Errorf("the message carries %s for a scan rspamd skipped:\n%.600s", h, m)
		}
	}
	if met := e.Scrape(); !strings.Contains(met, `ebb_scan_unscanned_total{cause="scanner_skip",scanner="rspamd"} 1`) {
		t.Errorf("metrics:\n%s", scanLines(met, "ebb_scan_unscanned"))
	}
	if l := scanLines(e.Log(), "not scanned"); !strings.Contains(l, "cause=scanner_skip") || !strings.Contains(l, `fix="rspamd's own settings skipped its checks`) {
		t.Errorf("log:\n%s", l)
	}
}

// rspamd answering "{}" (a fake on loopback: the real one always sends its
// verdict, which is what TestScanRspamdActions checks): unscanned
// (protocol) under the policy, counted, logged with a fix; before, it was
// ham with score 0.
func TestScanRspamdReplyWithoutVerdict(t *testing.T) {
	t.Parallel()
	fake := scanFake(t, func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			if _, err := c.Read(make([]byte, 1<<16)); err != nil {
				break
			}
		}
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"))
	})
	open := harness.NewServeEnv(t, harness.ServeOpts{Extra: fmt.Sprintf("[scan.rspamd]\naddress = %q\n", fake)})
	closed := harness.NewServeEnv(t, harness.ServeOpts{Extra: fmt.Sprintf("[scan.rspamd]\naddress = %q\non_failure = \"tempfail\"\n", fake)})
	if r := scanSend(t, closed.SMTP, "alice@example.test", scanMsg("no verdict", "\r\nhello\r\n")); !strings.HasPrefix(r, "451 4.7.1") || !strings.Contains(r, "rspamd: protocol") {
		t.Errorf("on_failure tempfail: %q, want 451 4.7.1 naming rspamd's protocol failure", r)
	}
	if r := scanSend(t, open.SMTP, "alice@example.test", scanMsg("no verdict", "\r\nhello\r\n")); !strings.HasPrefix(r, "250") {
		t.Fatalf("on_failure accept: %q, want 250", r)
	}
	open.WaitCount("alice", 1, 15*time.Second)
	m := scanUnfold(open.Messages("alice")[0])
	if !strings.Contains(m, "X-Ebb-Scan: rspamd=unscanned (protocol; policy accept)") || strings.Contains(m, "X-Spam-Status:") {
		t.Errorf("delivered message:\n%.600s", m)
	}
	for _, e := range []*harness.ServeEnv{open, closed} {
		if met := e.Scrape(); !strings.Contains(met, `ebb_scan_unscanned_total{cause="protocol",scanner="rspamd"} 1`) {
			t.Errorf("metrics:\n%s", scanLines(met, "ebb_scan_unscanned"))
		}
		if l := scanLines(e.Log(), "not scanned"); !strings.Contains(l, "no action and no score") || !strings.Contains(l, "fix=") {
			t.Errorf("log:\n%s", l)
		}
	}
	if l := scanLines(open.Log(), "not scanned"); !strings.Contains(l, `set scan.rspamd.on_failure = \"tempfail\"`) {
		t.Errorf("the fail-open line does not name the setting that makes senders wait:\n%s", l)
	}
}
