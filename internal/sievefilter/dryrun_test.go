package sievefilter

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A dry run (ebb route) decides the same actions and changes nothing: no
// folder of fileinto :create, nothing sent through the Outbox, no vacation
// sender or duplicate id remembered — so a second run decides the same.
func TestDryRunDecidesWithoutSideEffects(t *testing.T) {
	f, mb, out, _ := newTestFilter(t, `require ["fileinto", "mailbox", "copy", "vacation", "duplicate"];
if duplicate { discard; stop; }
fileinto :create "New";
redirect :copy "archive@example.net";
vacation "Away.";
`)
	f.DryRun = true
	var created []string
	f.WouldCreate = func(folder string) { created = append(created, folder) }
	for run := range 2 {
		d := decide(t, f, mb, testMsg, "alice@example.org")
		if d.Discard || len(d.Stores) != 1 || d.Stores[0].Folder != "New" {
			t.Fatalf("run %d: decision %+v, want fileinto New (a remembered duplicate id would discard)", run, d)
		}
		if !slices.Equal(d.Redirects, []string{"archive@example.net"}) || len(d.Outbound) != 1 || d.Outbound[0].Recipients[0] != "alice@example.org" {
			t.Errorf("run %d: redirects %v, outbound %d: want the redirect and one vacation reply returned", run, d.Redirects, len(d.Outbound))
		}
		if d.Delivered != nil {
			t.Errorf("run %d: a dry run has a Delivered hook (it would remember the duplicate id)", run)
		}
	}
	if len(out.sent) != 0 {
		t.Errorf("the Outbox got %d messages in a dry run", len(out.sent))
	}
	if !slices.Equal(created, []string{"New", "New"}) {
		t.Errorf("WouldCreate got %v, want New once per run", created)
	}
	if _, err := os.Stat(filepath.Join(mb.Maildir, ".New")); err == nil {
		t.Error("a dry run created the folder of fileinto :create")
	}
	filepath.WalkDir(f.Cfg.Server.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("a dry run wrote %s", p)
		}
		return nil
	})
}
