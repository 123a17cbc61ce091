package queue

import (
	"context"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/diag"
)

// Whatever door a message comes in by (a pickup client that is not ebb
// sendmail, a Sieve redirect), the queue takes no sender or recipient
// envaddr refuses: a control character never reaches a Delivered-To field
// or an RCPT command, and nothing is left in the spool.
func TestReceiveRefusesAddressesEnvaddrRefuses(t *testing.T) {
	q := openQueue(t, testConfig(t))
	for _, c := range []struct {
		from  string
		rcpts []string
		code  int
	}{
		{"s@example.org", []string{"a\x01b@example.test"}, 553},
		{"s@example.org", []string{"bob@example.test", "\x1b[2Jx@example.test"}, 553},
		{"s@example.org", []string{"a b@example.test"}, 553},
		{"s\x01@example.org", []string{"bob@example.test"}, 553},
	} {
		_, err := q.Receive(context.Background(), &Envelope{From: c.from, Recipients: c.rcpts}, strings.NewReader("Subject: x\r\n\r\nx\r\n"), ReceiveOptions{})
		d, ok := diag.As(err)
		if !ok || d.Class != diag.Permanent || d.SMTPCode != c.code || strings.ContainsAny(d.Public+d.Path, "\x01\x1b") {
			t.Errorf("Receive(%q → %q) = %v, want a permanent %d naming no raw control character", c.from, c.rcpts, err, c.code)
		}
	}
	if f := spoolFiles(t, q); len(f) != 0 {
		t.Errorf("refused messages left %v in the spool", f)
	}
}
