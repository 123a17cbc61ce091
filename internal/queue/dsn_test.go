package queue

import (
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/dsntest"
)

// parsedDSN is a DSN as a real MIME parser (go-message) reads it.
type parsedDSN struct {
	subject    string
	human      string
	perMessage map[string]string
	recipients []map[string]string
	headers    string
	returned   string // the message/rfc822 part (RET=FULL)
}

// parseDSN reads raw as a DSN and checks what every DSN of ours has: the
// three parts and Auto-Submitted (RFC 3834 §5). Field names are in their
// canonical form (Final-Recipient, Remote-Mta, ...).
func parseDSN(t *testing.T, raw string) parsedDSN {
	t.Helper()
	r, err := dsntest.Parse(raw)
	if err != nil {
		t.Fatalf("parse DSN: %v\n%s", err, raw)
	}
	if r.Header.Get("Auto-Submitted") != "auto-replied" {
		t.Errorf("no Auto-Submitted: auto-replied")
	}
	if got := strings.Join(r.Parts, ","); got != "text/plain,message/delivery-status,text/rfc822-headers" &&
		got != "text/plain,message/delivery-status,message/rfc822" {
		t.Fatalf("parts %v", got)
	}
	p := parsedDSN{subject: r.Header.Get("Subject"), human: r.Human, perMessage: canonical(r.PerMessage)}
	for _, f := range r.Recipients {
		p.recipients = append(p.recipients, canonical(f))
	}
	if r.Parts[2] == "message/rfc822" {
		p.returned = r.Returned
	} else {
		p.headers = r.Returned
	}
	return p
}

// canonical gives field names their MIME canonical form (Remote-Mta).
func canonical(f map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range f {
		parts := strings.Split(k, "-")
		for i, s := range parts {
			if s != "" {
				parts[i] = strings.ToUpper(s[:1]) + s[1:]
			}
		}
		out[strings.Join(parts, "-")] = v
	}
	return out
}
