package tide

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHistoryKeepsBoundedSamplesAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tide.jsonl")
	h := OpenHistory(path, 10)
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range 35 {
		if err := h.Add(Sample{T: t0.Add(time.Duration(i) * time.Minute), Messages: i}); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.Since(time.Time{}); len(got) != 10 || got[9].Messages != 34 {
		t.Fatalf("in memory: %d samples, last %+v", len(got), got[len(got)-1])
	}
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n > 20 {
		t.Fatalf("the file holds %d lines, more than twice the bound", n)
	}
	// A restart reads the last samples back; a torn last line is skipped.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"t":"2026-12-01T11:00:00Z","mess`)
	f.Close()
	h2 := OpenHistory(path, 10)
	if got := h2.Since(time.Time{}); len(got) != 10 || got[9].Messages != 34 {
		t.Fatalf("after a restart: %d samples", len(got))
	}
}

func TestRatesAcrossARestart(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rs := Rates([]Sample{
		{T: t0, Delivered: 100, Deferrals: 10},
		{T: t0.Add(time.Minute), Delivered: 160, Deferrals: 10},
		{T: t0.Add(2 * time.Minute), Delivered: 5, Deferrals: 2}, // restarted: counters began again
	})
	if len(rs) != 2 || rs[0].Delivered != 60 || rs[0].Deferrals != 0 || rs[1].Delivered != 5 || rs[1].Deferrals != 2 {
		t.Fatalf("rates %+v", rs)
	}
}
