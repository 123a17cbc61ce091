package deliver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Principle 7: a Sieve fileinto whose folder cannot be used (a file is
// where the folder would be) stores the message in INBOX, and ebb serve
// counts it (ebb_deliver_folder_fallbacks_total{why="unusable"}) besides
// the log line and the delivery's record.
func TestFolderFallbackIsCounted(t *testing.T) {
	t.Parallel()
	e := harness.NewServeEnv(t, harness.ServeOpts{})
	home := filepath.Join(e.Dir, "mail", "example.test", "alice")
	box := filepath.Join(home, "Maildir")
	for _, d := range []string{home, box, filepath.Join(box, "tmp"), filepath.Join(box, "new"), filepath.Join(box, "cur")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range map[string]string{
		filepath.Join(box, ".Nope"):           "a file, not a folder\n",
		filepath.Join(home, ".dovecot.sieve"): "require \"fileinto\";\nfileinto \"Nope\";\n",
	} {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	harness.Chown(t, filepath.Join(e.Dir, "mail"), e.User)
	if r := harness.Swaks(t, "--server", e.SMTP, "--from", "sender@example.org", "--to", "alice@example.test",
		"--h-Subject", "for Nope", "--body", "x"); r.Code != 0 {
		t.Fatalf("swaks: %d %s", r.Code, r.Stdout)
	}
	e.WaitCount("alice", 1, 30*time.Second) // INBOX
	const want = `ebb_deliver_folder_fallbacks_total{why="unusable"} 1`
	var m string
	harness.WaitFor(t, want, 30*time.Second, func() bool {
		m = e.Scrape()
		return strings.Contains(m, want)
	})
	// The other series of what a delivery did not do are served too (at 0
	// here): a maildirsize not updated, a DSN with an incomplete returned
	// header, a delivered message not read for a report.
	for _, s := range []string{"ebb_deliver_maildirsize_not_updated_total 0", "ebb_queue_dsn_header_incomplete_total 0", "ebb_reports_messages_unread_total 0"} {
		if !strings.Contains(m, s) {
			t.Errorf("/metrics lacks %q", s)
		}
	}
	if !strings.Contains(e.Log(), "cannot use folder, delivering to INBOX") {
		t.Errorf("the log does not say it:\n%s", harness.Tail(e.Log(), 20))
	}
}
