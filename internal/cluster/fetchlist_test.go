package cluster

import (
	"context"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// One host (no shared state): the accounts as fetch.List reads them, and
// no owner, since this host fetches them all.
func TestFetchListOnOneHost(t *testing.T) {
	ctx := context.Background()
	cfg := config.Defaults()
	cfg.Server.DataDir = t.TempDir()
	d, err := directory.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if ls, err := FetchList(ctx, cfg, d); err != nil || len(ls) != 0 {
		t.Fatalf("no accounts: %+v, %v", ls, err)
	}
	if err := d.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddMailbox(ctx, directory.Mailbox{Address: "alice@example.test", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	a := fetchstate.FetchAccount{Name: "w", Protocol: "imap", Host: "imap.remote.example", Port: 993, TLS: "implicit", Username: "alice",
		Auth: "password", Mailbox: "alice@example.test", After: "keep", Enabled: true, Folders: []string{"INBOX"}}
	if err := fetchstate.New(d).AddFetchAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	ls, err := FetchList(ctx, cfg, d)
	if err != nil || len(ls) != 1 || ls[0].Name != "w" || ls[0].Owner != nil || len(ls[0].Skipped) != 0 {
		t.Errorf("one account: %+v, %v", ls, err)
	}
}
