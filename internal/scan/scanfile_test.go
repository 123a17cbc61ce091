package scan

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

// ebb scan MESSAGE: a missing message is 66, no scanner is 78 naming the
// settings; otherwise every configured scanner is asked (here a clamd
// that is down: a failure with its cause, and the verdict on_failure
// gives), with postmaster@host as the recipient when none is given.
func TestScanFile(t *testing.T) {
	ctx := context.Background()
	cfg := config.Defaults()
	cfg.Server.Hostname = "mx.example.test"
	var ec interface{ ExitCode() int }
	if _, _, err := ScanFile(ctx, cfg, &Message{}, filepath.Join(t.TempDir(), "nope.eml")); !errors.As(err, &ec) || ec.ExitCode() != diag.ExNoInput {
		t.Errorf("missing message: %v", err)
	}
	dir := t.TempDir()
	msgPath := filepath.Join(dir, "m.eml")
	os.WriteFile(msgPath, []byte("From: a@example.org\r\nSubject: x\r\n\r\nhello\r\n"), 0o600)
	if _, _, err := ScanFile(ctx, cfg, &Message{}, msgPath); !errors.As(err, &ec) || ec.ExitCode() != diag.ExConfig || !strings.Contains(err.Error(), "scan.clamd.address") {
		t.Errorf("no scanner: %v", err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	cfg.Scan.Clamd.Address = l.Addr().String()
	l.Close() // down
	t.Chdir(dir)
	msg := &Message{}
	rep, entries, err := ScanFile(ctx, cfg, msg, "m.eml")
	if err != nil || len(entries) != 1 || len(rep.Results) != 1 || rep.Results[0].Status != Failed || rep.Results[0].Cause != CauseDown {
		t.Fatalf("clamd down: %v, %d entries, %+v", err, len(entries), rep)
	}
	if msg.Path != msgPath || strings.Join(msg.Rcpts, ",") != "postmaster@mx.example.test" {
		t.Errorf("message %+v", msg)
	}
	if rep.Verdict.Refused() != (cfg.Scan.Clamd.OnFailure != "accept") {
		t.Errorf("verdict %+v with on_failure %q", rep.Verdict, cfg.Scan.Clamd.OnFailure)
	}
}
