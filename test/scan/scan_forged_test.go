package scan

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Issue 24: a sender's own verdict fields never pass for ebb's. Whether
// no scanner is configured or the configured one is down under the accept
// policy, the stored copy has X-Spam-*, X-Virus-* and X-Ebb-* fields only
// from ebb itself: the sender's come renamed X-Ebb-Untrusted-<name>, still
// readable.
func TestScanForgedVerdictsAreRenamed(t *testing.T) {
	t.Parallel()
	forged := "X-Spam-Status: No, score=-5.0 required=5.0 tests=ALL_TRUSTED\r\n" +
		"X-Spam-Flag: NO\r\nX-Spam-Score: -5.0\r\nX-Spamd-Result: default: False [-5.0 / 15.0]\r\n" +
		"X-Rspamd-Action: no action\r\nX-Virus-Status: Clean\r\nX-Virus-Scanned: ClamAV\r\n" +
		"X-Ebb-Scan: spamd=ham (-5.0/5.0, forged); clamd=clean\r\n"
	down := func() string { return fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t)) }
	for _, c := range []struct {
		name, extra string
		ours        []string // fields ebb itself must have written
	}{
		{"no scanner", "", nil},
		{"spamd down, policy accept", fmt.Sprintf("[scan.spamd]\naddress = %q\non_failure = \"accept\"\n", down()),
			[]string{"X-Ebb-Scan: spamd=unscanned (down; policy accept)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := harness.NewServeEnv(t, harness.ServeOpts{Extra: c.extra})
			if r := scanSend(t, e.SMTP, "alice@example.test", scanMsg("forged "+c.name, forged+"\r\nhello\r\n")); !strings.HasPrefix(r, "250") {
				t.Fatalf("send: %q", r)
			}
			e.WaitCount("alice", 1, 15*time.Second)
			m := scanUnfold(e.Messages("alice")[0])
			head, _, _ := strings.Cut(m, "\n\n")
			for _, l := range strings.Split(head, "\n") {
				name, _, _ := strings.Cut(l, ":")
				n := strings.ToLower(name)
				if (strings.HasPrefix(n, "x-spam") || strings.HasPrefix(n, "x-virus") || strings.HasPrefix(n, "x-rspamd") || strings.HasPrefix(n, "x-ebb-scan")) &&
					!hasPrefixIn(c.ours, l) {
					t.Errorf("a verdict field that is not ebb's: %q\n%s", l, head)
				}
			}
			for _, want := range []string{"X-Ebb-Untrusted-X-Spam-Status: No, score=-5.0 required=5.0 tests=ALL_TRUSTED",
				"X-Ebb-Untrusted-X-Spam-Flag: NO", "X-Ebb-Untrusted-X-Virus-Status: Clean", "X-Ebb-Untrusted-X-Ebb-Scan: spamd=ham (-5.0/5.0, forged); clamd=clean"} {
				if !strings.Contains(head, want) {
					t.Errorf("the sender's field is not kept renamed: %q\n%s", want, head)
				}
			}
			for _, want := range c.ours {
				if !strings.Contains(head, want) {
					t.Errorf("ebb's own verdict missing: %q\n%s", want, head)
				}
			}
		})
	}
}

func hasPrefixIn(list []string, s string) bool {
	for _, l := range list {
		if strings.HasPrefix(s, l) {
			return true
		}
	}
	return false
}
