package queue

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

func TestIDsAreUpperCase(t *testing.T) {
	if got := IDs([]string{"abc123", "DEF456"}); len(got) != 2 || got[0] != "ABC123" || got[1] != "DEF456" {
		t.Errorf("IDs = %q", got)
	}
}

// ebb queue hold/flush on the spool (no daemon runs): the count of what
// was done on w, each id not in the queue an error of its own with exit
// 66; a flush of a domain takes what waits for it; no spool is our own
// trouble.
func TestActSaysHowManyAndWhichWereNotThere(t *testing.T) {
	cfg := testConfig(t)
	var b bytes.Buffer
	if _, err := Act(t.Context(), &b, cfg, testLog(t), OpHold, []string{"NOSUCH1234"}, ""); err == nil {
		t.Fatal("no spool: no error")
	} else if d, ok := diag.As(err); !ok || d.Component != "ebb queue" {
		t.Errorf("no spool: %#v", err)
	}
	q := openQueue(t, cfg)
	var ids []string
	for _, to := range []string{"b@example.net", "c@example.org"} {
		id, err := q.Receive(t.Context(), &Envelope{From: "a@example.org", Recipients: []string{to}}, strings.NewReader("Subject: x\r\n\r\nhi\r\n"), ReceiveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	q.Close()
	errs, err := Act(t.Context(), &b, cfg, testLog(t), OpHold, []string{ids[0], "NOSUCH1234"}, "")
	var ec interface{ ExitCode() int }
	if err != nil || len(errs) != 1 || !strings.Contains(errs[0].Error(), "NOSUCH1234") || !errors.As(errs[0], &ec) || ec.ExitCode() != diag.ExNoInput || b.String() != "hold: 1 message\n" {
		t.Errorf("hold: %v, %v, said %q", errs, err, b.String())
	}
	if m, err := ReadMessage(cfg.Queue.Spool, ids[0]); err != nil || !m.Held {
		t.Errorf("held: %+v, %v", m, err)
	}
	b.Reset()
	if errs, err := Act(t.Context(), &b, cfg, testLog(t), OpFlush, nil, "example.org"); err != nil || len(errs) != 0 || b.String() != "flush: 1 message\n" {
		t.Errorf("flush --domain: %v, %v, said %q", errs, err, b.String())
	}
	b.Reset()
	errs = WriteMessages(&b, cfg.Queue.Spool, []string{"NOSUCH1234"}, time.Now())
	if len(errs) != 1 || !errors.As(errs[0], &ec) || ec.ExitCode() != diag.ExNoInput {
		t.Errorf("show of an id not queued: %v", errs)
	}
}
