package queue

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// A message whose Subject and Message-ID come after 64 KiB of other
// fields: ebb explain's received line says they were not read, rather
// than showing a message without them.
func TestExplainSaysFieldsPast64KiBWereNotRead(t *testing.T) {
	t.Parallel()
	e := harness.NewQueueEnv(t, "")
	e.Maildir("carol")
	e.Start()
	var b strings.Builder
	b.WriteString("From: alice@example.org\r\nTo: carol@example.test\r\n")
	for range 80 {
		b.WriteString("X-Pad: " + strings.Repeat("p", 900) + "\r\n") // 72 KiB of fields
	}
	b.WriteString("Subject: far down\r\nMessage-ID: <far@example.org>\r\n\r\nbody\r\n")
	f := filepath.Join(e.Dir, "far.eml")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.Swaks("carol@example.test", f)
	m := queuedAs.FindStringSubmatch(r.Stdout)
	if r.Code != 0 || m == nil {
		t.Fatalf("swaks: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	e.WaitFor("delivered", func() bool { return len(e.Delivered("carol")) == 1 })
	story := e.Ebb("explain", "-c", e.Conf, m[1])
	if story.Code != 0 || !strings.Contains(story.Stdout, "Subject and Message-ID not read (past the first 64 KiB of the header)") {
		t.Errorf("explain: exit %d\n%s%s", story.Code, story.Stdout, story.Stderr)
	}
}
