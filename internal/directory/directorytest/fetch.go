package directorytest

import (
	"errors"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// The fetch accounts and their exactly-once state behave the same on
// every backend.
func init() {
	Cases = append(Cases,
		Case{"fetch accounts round-trip with their secrets and OAuth2 tokens", fetchAccountRoundTrip},
		Case{"a fetch account must deliver to a hosted mailbox and have a new name", fetchAccountRefused},
		Case{"fetched UIDs are recorded once, with their after-action state", fetchSeenState},
		Case{"a fetched message moves on only by the queue's outcome, and a skip can be retried", fetchOutcomes},
		Case{"a pending fetched message becomes what the queue did, and keeps its outcome meanwhile", fetchPending},
	)
}

func fetchAccountRoundTrip(t *testing.T, dir *directory.Directory) {
	seed(t, dir)
	d := fetchstate.New(dir)
	exp := time.Unix(1800000000, 0)
	a := fetchstate.FetchAccount{Name: "work", Protocol: "imap", Host: "imap.example.net", Port: 993, TLS: "implicit",
		Verify: true, Username: "alice", Auth: "oauth2", Password: "pw", Folders: []string{"INBOX", "Lists/ebb"},
		Mailbox: "alice@example.com", After: "move", MoveTo: "Archive", Interval: 90 * time.Second, Enabled: true,
		OAuth: &fetchstate.OAuth2{Provider: "custom", ClientID: "cid", TokenURL: "http://127.0.0.1/token", RefreshToken: "r1", Expiry: exp}}
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
	must(t, d.SetFetchStatus(ctx, "work", fetchstate.FetchStatus{At: exp, Text: "cannot log in", Cause: "login", Failures: 2}))
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

func fetchAccountRefused(t *testing.T, dir *directory.Directory) {
	seed(t, dir)
	d := fetchstate.New(dir)
	a := fetchstate.FetchAccount{Name: "x", Protocol: "pop3", Host: "h", Port: 995, TLS: "implicit", Username: "u", Auth: "password",
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

func fetchSeenState(t *testing.T, dir *directory.Directory) {
	seed(t, dir)
	d := fetchstate.New(dir)
	must(t, d.AddFetchAccount(ctx, fetchstate.FetchAccount{Name: "w", Protocol: "imap", Host: "h", Port: 143, TLS: "starttls",
		Username: "u", Auth: "password", Mailbox: "alice@example.com", After: "delete", Enabled: true}))
	must(t, d.SetFetchFolderState(ctx, "w", "INBOX", fetchstate.FetchFolder{UIDValidity: 7, LastUID: 2}))
	for _, uid := range []string{"1", "2", "2"} { // the second 2 is a replay after a crash
		must(t, d.RecordFetched(ctx, "w", fetchstate.FetchedMessage{Folder: "INBOX", UIDValidity: 7, UID: uid,
			Digest: "d" + uid, Size: 10, QueueID: "Q" + uid, State: fetchstate.FetchDelivered}))
	}
	st, err := d.FetchFolderState(ctx, "w", "INBOX")
	must(t, err)
	if st.UIDValidity != 7 || st.LastUID != 2 {
		t.Fatalf("folder state %+v; want uidvalidity 7, last uid 2", st)
	}
	must(t, d.MarkRemoved(ctx, "w", "INBOX", 7, []string{"1"}))
	uids, err := d.FetchedInFolder(ctx, "w", "INBOX", 7)
	must(t, err)
	if len(uids) != 2 || !uids["1"].Removed || uids["2"].Removed || uids["2"].Digest != "d2" || uids["2"].QueueID != "Q2" {
		t.Fatalf("FetchedInFolder = %+v; want 1 removed, 2 pending", uids)
	}
	if other, _ := d.FetchedInFolder(ctx, "w", "INBOX", 8); len(other) != 0 {
		t.Fatalf("another UIDVALIDITY sees %v", other)
	}
	if old, err := d.FetchedElsewhere(ctx, "w", "INBOX", 8); err != nil || len(old) != 2 {
		t.Fatalf("FetchedElsewhere = %+v, %v; want the 2 of UIDVALIDITY 7", old, err)
	}
	must(t, d.ResetFetchFolders(ctx, "w"))
	if st, _ := d.FetchFolderState(ctx, "w", "INBOX"); st.UIDValidity != 0 {
		t.Fatalf("after reset: %+v", st)
	}
}

// A queued message moves on only by what the queue said, whichever was
// written first; a refusal becomes a skip with its reason, waits for its
// notice, and can be asked for again.
func fetchOutcomes(t *testing.T, dir *directory.Directory) {
	seed(t, dir)
	d := fetchstate.New(dir)
	must(t, d.AddFetchAccount(ctx, fetchstate.FetchAccount{Name: "w", Protocol: "imap", Host: "h", Port: 143, TLS: "starttls",
		Username: "u", Auth: "password", Mailbox: "alice@example.com", After: "delete", Enabled: true}))
	rec := func(uid, qid string) {
		must(t, d.RecordFetched(ctx, "w", fetchstate.FetchedMessage{Folder: "INBOX", UIDValidity: 7, UID: uid, QueueID: qid,
			State: fetchstate.FetchQueued, Summary: "Subject: " + uid}))
	}
	rec("1", "QA")
	rec("2", "QB")
	// The queue answered for QC before the fetcher recorded it.
	must(t, d.RecordFetchOutcome(ctx, "QC", fetchstate.OutcomeDelivered, "", "", ""))
	rec("3", "QC")
	must(t, d.RecordFetchOutcome(ctx, "QA", fetchstate.OutcomeDeferred, "the mailbox is over quota", "it waits: Mailbox full", "R0"))
	must(t, d.RecordFetchOutcome(ctx, "QB", fetchstate.OutcomeRefused, "mail forwarding loop at /var/vmail", "Mail forwarding loop", "R1"))
	must(t, d.RecordFetchOutcome(ctx, "QB", fetchstate.OutcomeDeferred, "later deferral", "later", "R2")) // a final outcome stays
	changed, err := d.ApplyFetchOutcomes(ctx, "w")
	must(t, err)
	got := map[string]fetchstate.FetchedMessage{}
	for _, m := range changed {
		got[m.UID] = m
	}
	if len(changed) != 3 || got["1"].State != fetchstate.FetchQueued || got["1"].Reason != "the mailbox is over quota" || got["1"].Public != "it waits: Mailbox full" ||
		got["2"].State != fetchstate.FetchSkipped || got["2"].Reason != "mail forwarding loop at /var/vmail" || got["2"].Public != "Mail forwarding loop" ||
		got["2"].Ref != "R1" || got["2"].Notified ||
		got["3"].State != fetchstate.FetchDelivered {
		t.Fatalf("ApplyFetchOutcomes = %+v", changed)
	}
	if o, _, _, _ := d.FetchOutcome(ctx, "QC"); o != "" {
		t.Fatalf("QC's outcome is kept after use: %q", o)
	}
	if o, _, _, _ := d.FetchOutcome(ctx, "QA"); o != fetchstate.OutcomeDeferred {
		t.Fatalf("QA's deferral: %q", o)
	}
	must(t, d.RecordFetchOutcome(ctx, "QA", fetchstate.OutcomeRefused, "expired", "Delivery time expired", "R3"))
	if changed, err = d.ApplyFetchOutcomes(ctx, "w"); err != nil || len(changed) != 1 || changed[0].State != fetchstate.FetchSkipped ||
		changed[0].Public != "Delivery time expired" {
		t.Fatalf("after QA's expiry: %+v, %v", changed, err)
	}
	if changed, _ = d.ApplyFetchOutcomes(ctx, "w"); len(changed) != 0 {
		t.Fatalf("a second apply changes %+v", changed)
	}
	if due, err := d.FetchedDue(ctx, "w", "INBOX", 7); err != nil || len(due) != 1 || due[0].UID != "3" {
		t.Fatalf("FetchedDue = %+v, %v; want the delivered 3 only", due, err)
	}
	must(t, d.MarkRemoved(ctx, "w", "INBOX", 7, []string{"3"}))
	if due, _ := d.FetchedDue(ctx, "w", "INBOX", 7); len(due) != 0 {
		t.Fatalf("FetchedDue after the removal = %+v", due)
	}
	skipped, err := d.FetchedByState(ctx, "w", fetchstate.FetchSkipped)
	must(t, err)
	if len(skipped) != 2 {
		t.Fatalf("skipped: %+v", skipped)
	}
	must(t, d.MarkNotified(ctx, "w", []fetchstate.FetchedKey{skipped[0].Key(), skipped[1].Key()}))
	if n, err := d.RetryFetched(ctx, "w", []string{"2"}); err != nil || n != 1 {
		t.Fatalf("RetryFetched = %d, %v", n, err)
	}
	in, _ := d.FetchedInFolder(ctx, "w", "INBOX", 7)
	if in["2"].State != fetchstate.FetchRetry || in["2"].Public != "" || in["1"].State != fetchstate.FetchSkipped || !in["1"].Notified {
		t.Fatalf("after retry: %+v", in)
	}
	// The retried message is recorded anew when fetched again; a replay
	// of an ordinary row changes nothing.
	must(t, d.RecordFetched(ctx, "w", fetchstate.FetchedMessage{Folder: "INBOX", UIDValidity: 7, UID: "2", QueueID: "QD", State: fetchstate.FetchQueued}))
	must(t, d.RecordFetched(ctx, "w", fetchstate.FetchedMessage{Folder: "INBOX", UIDValidity: 7, UID: "1", QueueID: "QE", State: fetchstate.FetchQueued}))
	in, _ = d.FetchedInFolder(ctx, "w", "INBOX", 7)
	if in["2"].QueueID != "QD" || in["2"].State != fetchstate.FetchQueued || in["1"].QueueID != "QA" {
		t.Fatalf("after re-record: %+v", in)
	}
	must(t, d.SkipFetched(ctx, "w", []fetchstate.FetchedKey{in["2"].Key()}, "the outcome was lost", "lost", "R9"))
	must(t, d.ForgetFetched(ctx, "w", []fetchstate.FetchedKey{in["3"].Key()}))
	in, _ = d.FetchedInFolder(ctx, "w", "INBOX", 7)
	if in["2"].State != fetchstate.FetchSkipped || in["2"].Ref != "R9" || in["2"].Public != "lost" || len(in) != 2 {
		t.Fatalf("after skip and forget: %+v", in)
	}
	must(t, d.RecordFetched(ctx, "w", fetchstate.FetchedMessage{Folder: "INBOX", UIDValidity: 7, UID: "5", State: fetchstate.FetchSkipped,
		Reason: "cannot deliver to /var/vmail/x: over quota", Public: "Mailbox full", Ref: "R5"}))
	if in, _ = d.FetchedInFolder(ctx, "w", "INBOX", 7); in["5"].Public != "Mailbox full" || in["5"].Reason != "cannot deliver to /var/vmail/x: over quota" {
		t.Fatalf("a skipped row's reasons: %+v", in["5"])
	}
}

// A pending row (written before the queue's flush) is replaced by the
// record of what the queue did, never by a replay; it is turned queued by
// MarkQueued; and an outcome the queue wrote for it is kept while it is
// pending, whichever account's apply runs meanwhile.
func fetchPending(t *testing.T, dir *directory.Directory) {
	seed(t, dir)
	d := fetchstate.New(dir)
	for _, name := range []string{"w", "v"} {
		must(t, d.AddFetchAccount(ctx, fetchstate.FetchAccount{Name: name, Protocol: "imap", Host: "h", Port: 143, TLS: "starttls",
			Username: "u", Auth: "password", Mailbox: "alice@example.com", After: "delete", Enabled: true}))
	}
	pend := func(uid, qid string) {
		must(t, d.RecordFetched(ctx, "w", fetchstate.FetchedMessage{Folder: "INBOX", UIDValidity: 7, UID: uid, QueueID: qid, Digest: "d" + uid,
			Size: 10, QueueHost: "mx", State: fetchstate.FetchPending, Summary: "Subject: " + uid}))
	}
	pend("1", "QA")
	pend("2", "QB")
	pend("3", "QC")
	// The queue delivers QA before its pass records it as queued, and
	// another account's pass applies outcomes meanwhile.
	must(t, d.RecordFetchOutcome(ctx, "QA", fetchstate.OutcomeDelivered, "", "", ""))
	if _, err := d.ApplyFetchOutcomes(ctx, "v"); err != nil {
		t.Fatal(err)
	}
	if o, _, _, _ := d.FetchOutcome(ctx, "QA"); o != fetchstate.OutcomeDelivered {
		t.Fatalf("the outcome of a pending message was dropped: %q", o)
	}
	if changed, _ := d.ApplyFetchOutcomes(ctx, "w"); len(changed) != 0 {
		t.Fatalf("a pending row moved on by an outcome before it is queued: %+v", changed)
	}
	must(t, d.RecordFetched(ctx, "w", fetchstate.FetchedMessage{Folder: "INBOX", UIDValidity: 7, UID: "1", QueueID: "QA", Digest: "d1",
		Size: 10, QueueHost: "mx", State: fetchstate.FetchQueued, Summary: "Subject: 1"}))
	must(t, d.RecordFetched(ctx, "w", fetchstate.FetchedMessage{Folder: "INBOX", UIDValidity: 7, UID: "2", Size: 10, State: fetchstate.FetchSkipped,
		Reason: "clamd found Eicar", Public: "virus", Ref: "R2"}))
	must(t, d.RecordFetched(ctx, "w", fetchstate.FetchedMessage{Folder: "Lists", UIDValidity: 9, UID: "3", QueueID: "QL", State: fetchstate.FetchPending}))
	// One call for two folders; the skipped 2 stays skipped.
	must(t, d.MarkQueued(ctx, "w", []fetchstate.FetchedKey{{Folder: "INBOX", UIDValidity: 7, UID: "3"}, {Folder: "Lists", UIDValidity: 9, UID: "3"},
		{Folder: "INBOX", UIDValidity: 7, UID: "2"}}))
	if l, _ := d.FetchedInFolder(ctx, "w", "Lists", 9); l["3"].State != fetchstate.FetchQueued {
		t.Fatalf("Lists after MarkQueued: %+v", l)
	}
	// A replay of the pending record changes nothing any more.
	pend("3", "QX")
	in, _ := d.FetchedInFolder(ctx, "w", "INBOX", 7)
	if in["1"].State != fetchstate.FetchQueued || in["1"].Digest != "d1" || in["2"].State != fetchstate.FetchSkipped || in["2"].QueueID != "" ||
		in["2"].Public != "virus" || in["3"].State != fetchstate.FetchQueued || in["3"].QueueID != "QC" || in["3"].Digest != "d3" {
		t.Fatalf("after the records: %+v", in)
	}
	must(t, d.ForgetFetched(ctx, "w", []fetchstate.FetchedKey{{Folder: "Lists", UIDValidity: 9, UID: "3"}}))
	changed, err := d.ApplyFetchOutcomes(ctx, "w")
	if err != nil || len(changed) != 1 || changed[0].UID != "1" || changed[0].State != fetchstate.FetchDelivered {
		t.Fatalf("ApplyFetchOutcomes = %+v, %v; want 1 delivered", changed, err)
	}
	if p, _ := d.FetchedByState(ctx, "w", fetchstate.FetchPending); len(p) != 0 {
		t.Fatalf("still pending: %+v", p)
	}
}
