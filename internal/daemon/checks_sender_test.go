package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/policy"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// A vacation :from the directory cannot judge is refused (the mailbox's
// own address is used) with the directory's error, which the filter's log
// line and the response's record name (sievefilter's
// TestVacationFromIsAnAddressOfTheMailbox), not that the mailbox may not
// send as it.
func TestVacationFromDirectoryTroubleIsSaid(t *testing.T) {
	ctx := context.Background()
	cfg := config.Defaults()
	cfg.Mail.Root = t.TempDir()
	cfg.Server.DataDir = t.TempDir()
	cfg.Submission.SenderPolicy = string(policy.SenderOwn)
	dir, err := directory.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	dir.Close() // the directory no longer answers
	d := &daemon{cfg: cfg, dir: dir}
	ok, err := d.mayWriteAs(ctx, "alice@example.test", "team@example.test")
	if ok || err == nil || !strings.Contains(err.Error(), "the directory did not answer (") {
		t.Fatalf("a :from the directory could not judge: allowed %v, error %v; want refused with the directory's error", ok, err)
	}
}

// The sender check judges the From: and Sender: the queue kept from its
// one reading of the header (queue.Message.AuthorFields) without opening
// the spool file; a message without them (ebb route's, one naming too
// many authors) is read from the file.
func TestSenderCheckReadsTheKeptFields(t *testing.T) {
	file := filepath.Join(t.TempDir(), "data")
	data := "From: boss@example.test\r\n\r\nbody\r\n"
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	c := senderChecker{senders: &policy.Senders{Rule: policy.SenderExact}}
	check := func(m *queue.Message) error {
		m.Envelope = queue.Envelope{From: "alice@example.test", Recipients: []string{"b@example.org"}, AuthUser: "alice@example.test"}
		_, err := c.check(context.Background(), &checkInput{Msg: m, Kind: smtpd.Submission})
		return err
	}
	own := []mailhdr.Field{mailhdr.NewField("From: Alice <alice@example.test>\r\n")}
	if err := check(&queue.Message{File: filepath.Join(t.TempDir(), "gone"), AuthorFields: own, AuthorsSeen: true}); err != nil {
		t.Errorf("kept From: alice, no file: %v", err)
	}
	boss := []mailhdr.Field{mailhdr.NewField("From: alice@example.test\r\n"), mailhdr.NewField("Sender: boss@example.test\r\n")}
	if d, ok := diag.As(check(&queue.Message{File: file, Size: int64(len(data)), AuthorFields: boss, AuthorsSeen: true})); !ok || d.SMTPCode != 550 || !strings.Contains(d.Public, "Sender: <boss@example.test>") {
		t.Errorf("kept Sender: boss: %v", d)
	}
	if d, ok := diag.As(check(&queue.Message{File: file, Size: int64(len(data)), AuthorFields: own})); !ok || d.SMTPCode != 550 || !strings.Contains(d.Public, "From: <boss@example.test>") {
		t.Errorf("nothing kept, the file's From: boss: %v", d)
	}
}
