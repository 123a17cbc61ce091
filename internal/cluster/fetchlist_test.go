package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetch"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// openDir opens a directory (SQLite, one host) in a temp dir.
func openDir(t *testing.T) (*config.Config, *directory.Directory) {
	t.Helper()
	cfg := config.Defaults()
	cfg.Server.DataDir = t.TempDir()
	d, err := directory.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return cfg, d
}

// addAccount adds the fetch account "w" of alice@example.test to d.
func addAccount(t *testing.T, d *directory.Directory) {
	t.Helper()
	ctx := context.Background()
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
}

// Leases that cannot be read (the shared state did not answer) make a
// partial answer, not none: the accounts are listed, each saying that the
// host fetching it is unknown and why, and the error comes back for the
// command to say and exit with.
func TestFetchListWithLeasesUnreadable(t *testing.T) {
	_, d := openDir(t)
	addAccount(t, d)
	down := errors.New("read the fetch leases: connection refused")
	ls, err := fetchList(context.Background(), d, func() (map[string]Owner, error) { return nil, down })
	if !errors.Is(err, down) {
		t.Errorf("error %v, want the leases' own", err)
	}
	if len(ls) != 1 || ls[0].Name != "w" || ls[0].Owner == nil || ls[0].Owner.Unknown != down.Error() {
		t.Fatalf("listed %+v, want the account with its owner unknown", ls)
	}
	var text bytes.Buffer
	fetch.WriteList(&text, ls, false)
	if !strings.Contains(text.String(), "fetched by: unknown (the hosts' leases could not be read: read the fetch leases: connection refused)") {
		t.Errorf("the list does not say the owner is unknown:\n%s", text.String())
	}
	var js bytes.Buffer
	fetch.WriteList(&js, ls, true)
	var out []struct {
		Name  string `json:"name"`
		Owner struct {
			Unknown string `json:"unknown"`
		} `json:"owner"`
	}
	if err := json.Unmarshal(js.Bytes(), &out); err != nil || len(out) != 1 || out[0].Owner.Unknown != down.Error() {
		t.Errorf("JSON %s (%v): want owner.unknown", js.String(), err)
	}
}

// One host (no shared state): the accounts as fetch.List reads them, and
// no owner, since this host fetches them all.
func TestFetchListOnOneHost(t *testing.T) {
	ctx := context.Background()
	cfg, d := openDir(t)
	if ls, err := FetchList(ctx, cfg, d); err != nil || len(ls) != 0 {
		t.Fatalf("no accounts: %+v, %v", ls, err)
	}
	addAccount(t, d)
	ls, err := FetchList(ctx, cfg, d)
	if err != nil || len(ls) != 1 || ls[0].Name != "w" || ls[0].Owner != nil || len(ls[0].Skipped) != 0 {
		t.Errorf("one account: %+v, %v", ls, err)
	}
}
