package directorytest

import (
	"errors"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/directory"
)

// The fetch accounts and their exactly-once state behave the same on
// every backend.
func init() {
	Cases = append(Cases,
		Case{"fetch accounts round-trip with their secrets and OAuth2 tokens", fetchAccountRoundTrip},
		Case{"a fetch account must deliver to a hosted mailbox and have a new name", fetchAccountRefused},
		Case{"fetched UIDs are recorded once, with their after-action state", fetchSeenState},
	)
}

func fetchAccountRoundTrip(t *testing.T, d *directory.Directory) {
	seed(t, d)
	exp := time.Unix(1800000000, 0)
	a := directory.FetchAccount{Name: "work", Protocol: "imap", Host: "imap.example.net", Port: 993, TLS: "implicit",
		Verify: true, Username: "alice", Auth: "oauth2", Password: "pw", Folders: []string{"INBOX", "Lists/ebb"},
		Mailbox: "alice@example.com", After: "move", MoveTo: "Archive", Interval: 90 * time.Second, Enabled: true,
		OAuth: &directory.OAuth2{Provider: "custom", ClientID: "cid", TokenURL: "http://127.0.0.1/token", RefreshToken: "r1", Expiry: exp}}
	must(t, d.AddFetchAccount(ctx, a))
	got, err := d.FetchAccount(ctx, "work")
	must(t, err)
	if got.Host != a.Host || got.Port != 993 || got.Password != "pw" || len(got.Folders) != 2 || got.Folders[1] != "Lists/ebb" ||
		got.After != "move" || got.MoveTo != "Archive" || got.Interval != a.Interval || !got.Verify || !got.Enabled ||
		got.OAuth == nil || got.OAuth.RefreshToken != "r1" || !got.OAuth.Expiry.Equal(exp) {
		t.Fatalf("FetchAccount = %+v (oauth %+v); want %+v", got, got.OAuth, a)
	}
	o := *got.OAuth
	o.RefreshToken, o.AccessToken = "r2", "a2"
	must(t, d.SetFetchOAuth(ctx, "work", &o))
	must(t, d.SetFetchStatus(ctx, "work", directory.FetchStatus{At: exp, Text: "cannot log in", Cause: "login", Failures: 2}))
	list, err := d.FetchAccounts(ctx)
	must(t, err)
	if len(list) != 1 || list[0].OAuth.RefreshToken != "r2" || list[0].Status.Failures != 2 || list[0].Status.Cause != "login" {
		t.Fatalf("FetchAccounts = %+v", list)
	}
	must(t, d.RemoveFetchAccount(ctx, "work"))
	if _, err := d.FetchAccount(ctx, "work"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("after remove: %v; want ErrNotFound", err)
	}
	if err := d.RemoveFetchAccount(ctx, "work"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("second remove: %v; want ErrNotFound", err)
	}
}

func fetchAccountRefused(t *testing.T, d *directory.Directory) {
	seed(t, d)
	a := directory.FetchAccount{Name: "x", Protocol: "pop3", Host: "h", Port: 995, TLS: "implicit", Username: "u", Auth: "password",
		Mailbox: "nobody@example.com", After: "keep", Enabled: true}
	if err := d.AddFetchAccount(ctx, a); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("unknown mailbox: %v; want ErrNotFound", err)
	}
	a.Mailbox = "Alice@Example.com"
	must(t, d.AddFetchAccount(ctx, a))
	if err := d.AddFetchAccount(ctx, a); !errors.Is(err, directory.ErrExists) {
		t.Fatalf("second add: %v; want ErrExists", err)
	}
}

func fetchSeenState(t *testing.T, d *directory.Directory) {
	seed(t, d)
	must(t, d.AddFetchAccount(ctx, directory.FetchAccount{Name: "w", Protocol: "imap", Host: "h", Port: 143, TLS: "starttls",
		Username: "u", Auth: "password", Mailbox: "alice@example.com", After: "delete", Enabled: true}))
	must(t, d.SetFetchFolderState(ctx, "w", "INBOX", directory.FetchFolder{UIDValidity: 7}))
	for _, uid := range []string{"1", "2", "2"} { // the second 2 is a replay after a crash
		must(t, d.RecordFetched(ctx, "w", directory.FetchedMessage{Folder: "INBOX", UIDValidity: 7, UID: uid, Hash: "h" + uid}, 2))
	}
	st, err := d.FetchFolderState(ctx, "w", "INBOX")
	must(t, err)
	if st.UIDValidity != 7 || st.LastUID != 2 {
		t.Fatalf("folder state %+v; want uidvalidity 7, last uid 2", st)
	}
	must(t, d.MarkRemoved(ctx, "w", "INBOX", 7, []string{"1"}))
	uids, err := d.FetchedUIDs(ctx, "w", "INBOX", 7)
	must(t, err)
	if len(uids) != 2 || !uids["1"] || uids["2"] {
		t.Fatalf("FetchedUIDs = %v; want 1 removed, 2 pending", uids)
	}
	if other, _ := d.FetchedUIDs(ctx, "w", "INBOX", 8); len(other) != 0 {
		t.Fatalf("another UIDVALIDITY sees %v", other)
	}
	hs, err := d.FetchedHashes(ctx, "w", "INBOX")
	must(t, err)
	if !hs["h1"] || !hs["h2"] || len(hs) != 2 {
		t.Fatalf("FetchedHashes = %v", hs)
	}
	must(t, d.ResetFetchFolders(ctx, "w"))
	if st, _ := d.FetchFolderState(ctx, "w", "INBOX"); st.UIDValidity != 0 {
		t.Fatalf("after reset: %+v", st)
	}
}
