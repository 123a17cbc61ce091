package reports

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/tlsrpt"
)

// ebb report status, ebb dmarc report and ebb tlsrpt report read the
// store and create nothing: a missing one is 66 naming reports.store. A
// report received is summarised by its kind, within the days asked.
func TestCommandsReadTheStore(t *testing.T) {
	ctx := context.Background()
	store := filepath.Join(t.TempDir(), "sub", "reports.db")
	cfg := testConfig(t, "[reports]\nstore = \""+store+"\"\n")
	now := dayStart.Add(36 * time.Hour)
	_, err := StatusFromCommand(ctx, cfg, now, 7)
	_, err2 := ReceivedFromCommand(ctx, cfg, KindTLS, "ours.test", 30, now)
	for _, err := range []error{err, err2} {
		if d, ok := diag.As(err); !ok || d.ExitCode() != diag.ExNoInput || d.Setting == nil || d.Setting.Key != "reports.store" {
			t.Errorf("missing store: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Dir(store)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a reading command made %s", filepath.Dir(store))
	}

	st, err := OpenSQLite(ctx, store, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr := &tlsrpt.Report{OrganizationName: "Reporter Inc", ReportID: "r-1",
		DateRange: tlsrpt.DateRange{Start: dayStart, End: dayStart.Add(24*time.Hour - time.Second)},
		Policies:  []tlsrpt.Policy{{Policy: tlsrpt.PolicyDesc{Type: "sts", Domain: "ours.test"}, Summary: tlsrpt.Summary{Success: 9, Failure: 1}}}}
	if ok, err := st.AddReceived(ctx, Received{Kind: KindTLS, Reporter: "Reporter Inc", ReportID: "r-1", Domain: "ours.test",
		Begin: tr.DateRange.Start, End: tr.DateRange.End, At: dayStart.Add(25 * time.Hour), TLS: tr}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	st.Close()

	s, err := ReceivedFromCommand(ctx, cfg, KindTLS, "ours.test", 30, now)
	ts, ok := s.(*TLSSummary)
	if err != nil || !ok || ts.Reports != 1 || ts.Success != 9 || ts.Failure != 1 {
		t.Fatalf("tls: %#v, %v", s, err)
	}
	var b bytes.Buffer
	s.WriteText(&b)
	if !strings.Contains(b.String(), "9 sessions succeeded, 1 failed") {
		t.Errorf("text:\n%s", b.String())
	}
	if s, err := ReceivedFromCommand(ctx, cfg, KindDMARC, "ours.test", 30, now); err != nil || s.(*DMARCSummary).Messages != 0 {
		t.Errorf("dmarc: %#v, %v", s, err)
	}
	// --days 1, three days later: it is older than that.
	if s, err := ReceivedFromCommand(ctx, cfg, KindTLS, "ours.test", 1, now.Add(72*time.Hour)); err != nil || s.(*TLSSummary).Reports != 0 {
		t.Errorf("--days 1: %#v, %v", s, err)
	}
	if st, err := StatusFromCommand(ctx, cfg, now, 7); err != nil || st == nil {
		t.Errorf("status: %v", err)
	}
}

// ebb report send: 0 when every report went or was skipped, 1 when one
// failed, 75 when one is to be retried (even beside a failure).
func TestSentExitCode(t *testing.T) {
	for _, c := range []struct {
		states []string
		want   int
	}{
		{nil, 0},
		{[]string{"sent", "skipped"}, 0},
		{[]string{"sent", StateFailed}, 1},
		{[]string{StateRetry, StateFailed}, 75},
		{[]string{StateFailed, StateRetry, "sent"}, 75},
	} {
		var sent []Sent
		for _, s := range c.states {
			sent = append(sent, Sent{State: s})
		}
		if got := SentExitCode(sent); got != c.want {
			t.Errorf("%v: %d, want %d", c.states, got, c.want)
		}
	}
}
