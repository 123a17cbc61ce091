package cluster

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/scan"
)

// mailq on one host: the queue from the spool files with no daemon
// running, an open breaker told after it (not in JSON), and a spool that
// is not there our own trouble, said as ebb mailq.
func TestMailqListsTheSpoolAndTheOpenBreakers(t *testing.T) {
	cfg := config.Defaults()
	dir := t.TempDir()
	cfg.Server.DataDir, cfg.Queue.Spool, cfg.Server.Hostname = dir, filepath.Join(dir, "spool"), "mx.example.test"
	var b bytes.Buffer
	now := time.Now()
	if err := Mailq(t.Context(), &b, cfg, false, now); err == nil {
		t.Fatal("no spool: no error")
	} else if d, ok := diag.As(err); !ok || d.Component != "ebb mailq" {
		t.Errorf("no spool: %#v", err)
	}
	q, err := queue.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := q.Receive(t.Context(), &queue.Envelope{From: "a@example.org", Recipients: []string{"b@example.net"}}, strings.NewReader("Subject: x\r\n\r\nhi\r\n"), queue.ReceiveOptions{})
	q.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := scan.WriteBreakers(filepath.Join(dir, scan.BreakerFile), []scan.BreakerState{{Scanner: "spamd", Open: true, Until: now.Add(time.Minute), Failures: 5, LastErr: "connection refused"}}); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := Mailq(t.Context(), &b, cfg, false, now); err != nil || !strings.Contains(b.String(), id) || !strings.Contains(b.String(), "\nscanner spamd: not asked until ") {
		t.Errorf("text: %v\n%s", err, b.String())
	}
	b.Reset()
	var out struct{ Messages []struct{ ID string } }
	if err := Mailq(t.Context(), &b, cfg, true, now); err != nil || json.Unmarshal(b.Bytes(), &out) != nil || len(out.Messages) != 1 || out.Messages[0].ID != id || strings.Contains(b.String(), "scanner spamd") {
		t.Errorf("json: %v\n%s", err, b.String())
	}
}
