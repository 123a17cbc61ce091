package deliver

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/maildir"
)

// The dry-run helpers (ebb route) decide as the agent does: View is the
// stored copy byte for byte, QuotaProblem refuses where CheckQuota does
// and writes nothing, MailboxMaildir refuses a disabled mailbox.
func TestDryRunAgreesWithDelivery(t *testing.T) {
	a, root := newAgent(t)
	ctx := context.Background()
	spool := filepath.Join(root, "spool.eml")
	os.WriteFile(spool, []byte("Subject: dry\r\nTo: alice@example.com\r\n\r\nbody\r\n"), 0o600)
	env := Envelope{Sender: "s@example.net", Recipient: "alice@example.com", Prefix: []byte("Received: from x\r\n\tby mx.test\r\n")}
	rep, err := a.DeliverFile(ctx, spool, env)
	if err != nil || len(rep.Outcomes) != 1 || len(rep.Outcomes[0].Files) != 1 {
		t.Fatalf("deliver: %+v %v", rep, err)
	}
	stored, _ := os.ReadFile(rep.Outcomes[0].Files[0])
	var view bytes.Buffer
	n, off, err := a.View(&view, spool, env)
	if err != nil || !bytes.Equal(view.Bytes(), stored) || n != int64(len(stored)) || !bytes.HasPrefix(view.Bytes()[off:], []byte("Subject: dry\n")) {
		t.Errorf("View %q (%d, offset %d, %v), stored %q", view.String(), n, off, err, stored)
	}

	mb := &directory.Mailbox{Address: "alice@example.com", Enabled: true}
	top, setting, e := MailboxMaildir(a.Cfg, mb, "ebb serve")
	if e != nil || top != rep.Outcomes[0].Maildir || setting == nil {
		t.Fatalf("MailboxMaildir: %q %v %v, want %q", top, setting, e, rep.Outcomes[0].Maildir)
	}
	size := filepath.Join(top, "maildirsize")
	for _, c := range []struct {
		name, file string
		q          directory.Mailbox // the directory's quota
		add        int64
	}{
		{"fresh file, over", "100S\n", directory.Mailbox{QuotaBytes: 100}, 200},
		{"fresh file, room", "100000S\n", directory.Mailbox{QuotaBytes: 100000}, 200},
		{"stale sums over, recount has room", "1000S\n600 1\n600 1\n", directory.Mailbox{QuotaBytes: 1000}, 10},
		{"message count", "2C\n", directory.Mailbox{QuotaMessages: 2}, 1},
		{"a quota lowered since the file: over at once", "100000S\n0 0\n", directory.Mailbox{QuotaBytes: 10}, 1},
		{"a quota raised since the file", "10S\n", directory.Mailbox{QuotaBytes: 100000}, 200},
		{"no quota any more", "10S\n", directory.Mailbox{}, 200},
	} {
		os.WriteFile(size, []byte(c.file), 0o600)
		m := *mb
		m.QuotaBytes, m.QuotaMessages = c.q.QuotaBytes, c.q.QuotaMessages
		qe := QuotaProblem(a.Cfg, "ebb serve", &m, top, setting, c.add)
		if b, _ := os.ReadFile(size); string(b) != c.file {
			t.Errorf("%s: QuotaProblem changed maildirsize to %q", c.name, b)
		}
		var want *maildir.QuotaError
		real := maildir.EnforceQuota(top, quotaOf(a.Cfg, &m), c.add)
		if (qe != nil) != errors.As(real, &want) {
			t.Errorf("%s: QuotaProblem %v, EnforceQuota %v", c.name, qe, real)
		}
		if qe != nil && (qe.Setting == nil || qe.Setting.Key != "mail.over_quota" || qe.SMTPCode != 452) {
			t.Errorf("%s: %+v, want the agent's temporary quota error", c.name, qe)
		}
	}
	if _, _, e := MailboxMaildir(a.Cfg, &directory.Mailbox{Address: "off@example.com"}, "ebb serve"); e == nil || e.Enhanced != [3]int{5, 2, 1} {
		t.Errorf("a disabled mailbox: %v, want the agent's 5.2.1", e)
	}
}

// A message larger than the whole quota cannot be let in by freeing space:
// its fix says so and asks for a larger quota; one that would fit an
// emptier mailbox keeps "free space". The limit is told in bytes, not in
// maildirsize's "1000S".
func TestQuotaFixForAMessageLargerThanTheQuota(t *testing.T) {
	a, _ := newAgent(t)
	mb := &directory.Mailbox{Address: "alice@example.com", Enabled: true, QuotaBytes: 1000}
	top, setting, e := MailboxMaildir(a.Cfg, mb, "ebb serve")
	if e != nil {
		t.Fatal(e)
	}
	os.MkdirAll(top, 0o700)
	os.WriteFile(filepath.Join(top, "maildirsize"), []byte("1000S\n100 1\n"), 0o600)
	for _, c := range []struct {
		add          int64
		fix, notFix  string
		reasonSuffix bool
	}{
		{5000, "larger than the whole quota", "free space in the mailbox, or", true},
		{950, "free space in the mailbox, or raise", "larger than", false},
	} {
		qe := QuotaProblem(a.Cfg, "ebb serve", mb, top, setting, c.add)
		if qe == nil {
			t.Fatalf("a message of %d bytes fits a quota of 1000 with 100 used", c.add)
		}
		s := qe.Sentence()
		if !strings.Contains(s, "limit 1000 bytes") || strings.Contains(s, "1000S") ||
			!strings.Contains(s, c.fix) || strings.Contains(s, c.notFix) ||
			strings.Contains(s, "larger than the limit itself") != c.reasonSuffix {
			t.Errorf("a message of %d bytes: %s", c.add, s)
		}
	}
}
