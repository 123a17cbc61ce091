package relay

import (
	"testing"

	"github.com/ebbmail/ebb/internal/dsntest"
)

// parseDSNMail parses raw (as stored in a Maildir) as a DSN, failing the
// test when it is not one.
func parseDSNMail(t *testing.T, raw string) *dsntest.Report {
	t.Helper()
	r, err := dsntest.Parse(raw)
	if err != nil {
		t.Fatalf("parse the DSN: %v\n%s", err, raw)
	}
	return r
}

// dsnRecipient is the block for addr, failing the test when there is none.
func dsnRecipient(t *testing.T, r *dsntest.Report, addr string) map[string]string {
	t.Helper()
	f := r.Recipient(addr)
	if f == nil {
		t.Fatalf("no block for %s in %+v", addr, r.Recipients)
	}
	return f
}
