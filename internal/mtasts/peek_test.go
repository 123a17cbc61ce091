package mtasts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/servetest"
)

// Cached (ebb route's peek) follows Get's rules: a policy past
// Fetched+MaxAge applies no more, the name is matched as Get keys it, and
// an address literal has no policy.
func TestCachedFollowsGetsRules(t *testing.T) {
	dir := t.TempDir()
	clk := servetest.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	write := func(domain string, fetched time.Time) {
		b, _ := json.Marshal(&Policy{Domain: domain, ID: "1", Mode: Enforce, MX: []string{"mx." + domain}, MaxAge: time.Hour, Fetched: fetched})
		if err := os.WriteFile(filepath.Join(dir, domain+".json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("fresh.example", clk.Now().Add(-30*time.Minute))
	write("old.example", clk.Now().Add(-2*time.Hour))
	c := NewCache(Options{Dir: dir, Now: clk.Now})
	if p := c.Cached("Fresh.Example."); p == nil || p.Mode != Enforce {
		t.Errorf("fresh.example: %+v, want its enforce policy", p)
	}
	if p := c.Cached("old.example"); p != nil {
		t.Errorf("old.example: %+v, want nil (past max_age)", p)
	}
	clk.Add(time.Hour)
	if p := c.Cached("fresh.example"); p != nil {
		t.Errorf("fresh.example an hour later: %+v, want nil (past max_age)", p)
	}
	if p := c.Cached("[192.0.2.1]"); p != nil {
		t.Errorf("an address literal: %+v, want nil", p)
	}
}
