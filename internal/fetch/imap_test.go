package fetch

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

func uids(us ...uint32) []uint32 { return us }

// With --after delete and move, a server copy goes only once its message
// is delivered: one the delivery refuses (a loop) and one refused when it
// is received (a scanner) stay on the server, are recorded as skipped
// with their reasons, and their owner is told once; the messages after
// them arrive; nothing is queued twice.
func TestOnlyDeliveredMessagesLeaveTheServer(t *testing.T) {
	for _, after := range []string{"delete", "move"} {
		t.Run(after, func(t *testing.T) {
			dir := testDirectory(t)
			q := newTestQueue(dir)
			srv := newFakeIMAP(t)
			srv.add(msg(1, ""), msg(2, "X-Test: refuse\r\n"), msg(3, ""), msg(4, "X-Test: reject\r\n"), msg(5, ""))
			host, port := srv.addr()
			a := testAccount(t, dir, "w", host, port, after)
			f := testFetcher(dir, q)
			res, err := f.Once(context.Background(), a, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := srv.remaining(); !slices.Equal(got, uids(2, 4)) {
				t.Fatalf("on the server: %v; want the refused 2 and 4", got)
			}
			if after == "move" && len(srv.moved["Archive"]) != 3 {
				t.Fatalf("moved: %v", srv.moved)
			}
			if res.Fetched != 4 || res.Skipped != 2 || res.Removed != 3 || res.Delivered != 3 {
				t.Fatalf("result %+v; want 4 fetched, 3 delivered and removed, 2 skipped", res)
			}
			if d := q.delivered(); len(d) != 3 || d["1"] != 1 || d["3"] != 1 || d["5"] != 1 {
				t.Fatalf("delivered %v", d)
			}
			skipped, _ := fetchstate.New(dir).FetchedByState(context.Background(), "w", fetchstate.FetchSkipped)
			if len(skipped) != 2 || !strings.Contains(skipped[0].Reason+skipped[1].Reason, "mail forwarding loop") ||
				!strings.Contains(skipped[0].Reason+skipped[1].Reason, "Eicar") {
				t.Fatalf("skipped: %+v", skipped)
			}
			if n := q.noticed(); len(n) != 2 || n[0].Summary == "" {
				t.Fatalf("noticed: %+v", n)
			}
			// A second pass changes nothing and tells nobody again.
			res, err = f.Once(context.Background(), a, nil)
			if err != nil || res.Fetched != 0 || res.Removed != 0 || len(q.noticed()) != 2 || !slices.Equal(srv.remaining(), uids(2, 4)) {
				t.Fatalf("second pass: %+v, %v; notices %d, server %v", res, err, len(q.noticed()), srv.remaining())
			}
		})
	}
}

// A message the server answers without a body (NIL, no BODY[] item, an
// empty string for a message that has a size) is neither queued nor
// deleted, and the position stays below it: the next pass, with a server
// that answers, takes it.
func TestAMessageWithoutABodyIsNeverDeleted(t *testing.T) {
	for _, mode := range []bodyMode{bodyNIL, bodyOmit, bodyEmpty} {
		t.Run(strconv.Itoa(int(mode)), func(t *testing.T) {
			dir := testDirectory(t)
			q := newTestQueue(dir)
			srv := newFakeIMAP(t)
			srv.add(msg(1, ""), msg(2, ""), msg(3, ""), msg(4, ""))
			srv.with(func(s *fakeIMAP) {
				s.body = func(uid uint32) bodyMode {
					if uid == 2 {
						return mode
					}
					return bodyNormal
				}
			})
			host, port := srv.addr()
			a := testAccount(t, dir, "w", host, port, "delete")
			f := testFetcher(dir, q)
			res, err := f.Once(context.Background(), a, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := srv.remaining(); !slices.Equal(got, uids(2)) || res.Removed != 3 {
				t.Fatalf("on the server: %v (removed %d); want only 2", got, res.Removed)
			}
			for _, c := range srv.commands() {
				if strings.HasPrefix(c, "UID STORE") && inSet(strings.Fields(c)[2], 2, 4) {
					t.Fatalf("UID 2 was marked deleted: %q", c)
				}
			}
			st, _ := fetchstate.New(dir).FetchFolderState(context.Background(), "w", "INBOX")
			if st.LastUID >= 2 {
				t.Fatalf("position %d: past the message that came without a body", st.LastUID)
			}
			srv.with(func(s *fakeIMAP) { s.body = nil })
			if _, err := f.Once(context.Background(), a, nil); err != nil {
				t.Fatal(err)
			}
			if d := q.delivered(); len(d) != 4 || d["2"] != 1 || len(srv.remaining()) != 0 {
				t.Fatalf("after the server answers: delivered %v, server %v", d, srv.remaining())
			}
		})
	}
}

// Another client expunges a message between our search and our fetch
// (Dovecot then answers BODY[] NIL): no panic, the others arrive and go.
func TestExpungedBetweenSearchAndFetch(t *testing.T) {
	dir := testDirectory(t)
	q := newTestQueue(dir)
	srv := newFakeIMAP(t)
	srv.add(msg(1, ""), msg(2, ""), msg(3, ""))
	srv.with(func(s *fakeIMAP) { s.beforeFetch = func(s *fakeIMAP) { s.expungeOther(2) } })
	host, port := srv.addr()
	a := testAccount(t, dir, "w", host, port, "delete")
	res, err := testFetcher(dir, q).Once(context.Background(), a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := q.delivered(); len(d) != 2 || d["2"] != 0 || res.Removed != 2 {
		t.Fatalf("delivered %v, result %+v", d, res)
	}
}

// A body cut short by a dropped connection is not a message: nothing is
// recorded or deleted, the attempt fails as the server's, and the next
// one takes everything once.
func TestACutBodyIsTakenAgain(t *testing.T) {
	dir := testDirectory(t)
	q := newTestQueue(dir)
	srv := newFakeIMAP(t)
	srv.add(msg(1, ""), msg(2, ""), msg(3, ""))
	srv.with(func(s *fakeIMAP) {
		s.body = func(uid uint32) bodyMode {
			if uid == 2 {
				return bodyCut
			}
			return bodyNormal
		}
	})
	host, port := srv.addr()
	a := testAccount(t, dir, "w", host, port, "delete")
	f := testFetcher(dir, q)
	_, err := f.Once(context.Background(), a, nil)
	if de, ok := diag.As(asDiag(err, a)); err == nil || !ok || de.Op != CauseServer {
		t.Fatalf("cut body: %v; want a server failure", err)
	}
	if !strings.Contains(a.Status.Text, "127.0.0.1:") {
		t.Fatalf("the status does not name the server: %s", a.Status.Text)
	}
	srv.with(func(s *fakeIMAP) { s.body = nil })
	if _, err := f.Once(context.Background(), a, nil); err != nil {
		t.Fatal(err)
	}
	if d := q.delivered(); len(d) != 3 || d["1"] != 1 || d["2"] != 1 || len(srv.remaining()) != 0 {
		t.Fatalf("delivered %v, server %v", d, srv.remaining())
	}
}

// A message the queue defers keeps its server copy; once the queue
// delivers it, the next pass deletes it. One whose outcome was lost (the
// queue forgot it without saying) is skipped and told about, never
// deleted.
func TestServerCopyWaitsForTheQueue(t *testing.T) {
	dir := testDirectory(t)
	q := newTestQueue(dir)
	srv := newFakeIMAP(t)
	srv.add(msg(1, "X-Test: defer\r\n"), msg(2, "X-Test: defer\r\n"), msg(3, ""))
	host, port := srv.addr()
	a := testAccount(t, dir, "w", host, port, "delete")
	f := testFetcher(dir, q)
	f.SettleWait = 50 * time.Millisecond
	res, err := f.Once(context.Background(), a, nil)
	if err != nil || res.Waiting != 2 || !slices.Equal(srv.remaining(), uids(1, 2)) {
		t.Fatalf("first pass: %+v, %v; server %v", res, err, srv.remaining())
	}
	ids := map[string]string{}
	q.mu.Lock()
	for id, uid := range q.uids {
		ids[uid] = id
	}
	q.mu.Unlock()
	q.settle(ids["1"], fetchstate.OutcomeDelivered, "")
	q.mu.Lock()
	delete(q.pending, ids["2"]) // gone from the queue without a word
	q.mu.Unlock()
	res, err = f.Once(context.Background(), a, nil)
	if err != nil || !slices.Equal(srv.remaining(), uids(2)) || res.Removed != 1 || res.Skipped != 1 {
		t.Fatalf("second pass: %+v, %v; server %v", res, err, srv.remaining())
	}
	if n := q.noticed(); len(n) != 1 || n[0].UID != "2" || !strings.Contains(n[0].Reason, "may or may not be in the mailbox") {
		t.Fatalf("noticed %+v", n)
	}
}

// IDLE does not lose an EXISTS the server sent with the tagged reply to
// our UID FETCH: the message that arrived during the pass is fetched at
// once, with no further push.
func TestIDLEKeepsAnEXISTSSentWithTheFetchReply(t *testing.T) {
	dir := testDirectory(t)
	q := newTestQueue(dir)
	srv := newFakeIMAP(t)
	srv.add(msg(1, ""))
	once := sync.Once{}
	srv.with(func(s *fakeIMAP) {
		s.afterFetch = func(s *fakeIMAP) string {
			out := ""
			once.Do(func() {
				s.msgs = append(s.msgs, fakeMsg{uid: s.next, body: msg(2, "")})
				s.next++
				out = "* 2 EXISTS\r\n"
			})
			return out
		}
	})
	host, port := srv.addr()
	a := testAccount(t, dir, "w", host, port, "keep")
	f := testFetcher(dir, q)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slots := make(chan struct{}, 1)
	go (&Runner{F: f}).guarded(ctx, a, slots)
	deadline := time.Now().Add(10 * time.Second)
	for len(q.delivered()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the message announced with the fetch reply was not fetched: delivered %v; commands %q", q.delivered(), srv.commands())
		}
		select {
		case <-srv.idled:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A panic in one account's pass (a bug of ours) fails that account, shown
// with the reason, and nothing else: another account goes on.
func TestAPanicStopsOnlyItsAccount(t *testing.T) {
	dir := testDirectory(t)
	q := newTestQueue(dir)
	q.panicOn = "boom"
	bad, good := newFakeIMAP(t), newFakeIMAP(t)
	bad.add(msg(1, "X-Boom: boom\r\n"))
	good.add(msg(2, ""), msg(3, ""))
	f := testFetcher(dir, q)
	h1, p1 := bad.addr()
	h2, p2 := good.addr()
	testAccount(t, dir, "bad", h1, p1, "delete")
	testAccount(t, dir, "good", h2, p2, "delete")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &Runner{F: f, Accounts: fetchstate.New(dir).FetchAccounts, Reload: time.Hour}
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := fetchstate.New(dir).FetchAccount(ctx, "bad")
		if len(good.remaining()) == 0 && b.Status.Cause == CauseInternal {
			if !strings.Contains(b.Status.Text, "a bug in ebb: a bug in the sink") || !strings.Contains(b.Status.Text, h1) {
				t.Fatalf("status of the panicking account: %s", b.Status.Text)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("good: %v left; bad: %+v", good.remaining(), b.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(bad.remaining()) != 1 {
		t.Fatal("the message of the panicking pass was deleted")
	}
	cancel()
	<-done
}

// After a UIDVALIDITY change under the refetch rule, what was taken is
// known by the digest of its content: two messages without Message-ID or
// Date and of one size are two; a third of that size is new, and so is a
// second copy of one taken once. Each is fetched exactly once.
func TestRefetchKnowsHeaderlessMessagesByContent(t *testing.T) {
	dir := testDirectory(t)
	q := newTestQueue(dir)
	srv := newFakeIMAP(t)
	srv.add("aaaa\r\n", "bbbb\r\n")
	host, port := srv.addr()
	a := testAccount(t, dir, "w", host, port, "keep")
	f := testFetcher(dir, q)
	f.Cfg.UIDValidityChange = "refetch"
	if res, err := f.Once(context.Background(), a, nil); err != nil || res.Fetched != 2 {
		t.Fatalf("first pass: %+v, %v", res, err)
	}
	// The server rebuilds the folder: new UIDVALIDITY, new UIDs.
	srv.with(func(s *fakeIMAP) {
		s.uidValidity = 99
		for i := range s.msgs {
			s.msgs[i].uid = s.next
			s.next++
		}
	})
	srv.add("cccc\r\n", "aaaa\r\n")
	res, err := f.Once(context.Background(), a, nil)
	if err != nil || res.Known != 2 || res.Fetched != 2 {
		t.Fatalf("after the change: %+v, %v; want 2 known, 2 fetched", res, err)
	}
	q.mu.Lock()
	var got []string
	for _, b := range q.bodies {
		lines := strings.Split(strings.TrimSpace(b), "\n")
		got = append(got, strings.TrimSpace(lines[len(lines)-1]))
	}
	q.mu.Unlock()
	slices.Sort(got)
	if strings.Join(got, " ") != "aaaa aaaa bbbb cccc" {
		t.Fatalf("queued: %v; want each message once", got)
	}
	if res, err := f.Once(context.Background(), a, nil); err != nil || res.Fetched+res.Known != 0 {
		t.Fatalf("third pass: %+v, %v", res, err)
	}
}

// Rows from before the digest (schema 2: the hash of Message-ID, Date and
// size) are still recognised after a UIDVALIDITY change.
func TestRefetchKnowsRowsOfTheOldHash(t *testing.T) {
	dir := testDirectory(t)
	q := newTestQueue(dir)
	srv := newFakeIMAP(t)
	srv.with(func(s *fakeIMAP) { s.uidValidity = 99 })
	body := msg(1, "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n")
	srv.add(body, msg(2, ""))
	host, port := srv.addr()
	a := testAccount(t, dir, "w", host, port, "keep")
	ctx := context.Background()
	fetchstate.New(dir).SetFetchFolderState(ctx, "w", "INBOX", fetchstate.FetchFolder{UIDValidity: 7, LastUID: 1})
	head := body[:strings.Index(body, "\r\n\r\n")+4]
	fetchstate.New(dir).RecordFetched(ctx, "w", fetchstate.FetchedMessage{Folder: "INBOX", UIDValidity: 7, UID: "1", Hash: messageHash([]byte(head), int64(len(body))),
		State: fetchstate.FetchDelivered, Removed: true})
	f := testFetcher(dir, q)
	f.Cfg.UIDValidityChange = "refetch"
	res, err := f.Once(ctx, a, nil)
	if err != nil || res.Known != 1 || res.Fetched != 1 {
		t.Fatalf("%+v, %v; want the old row known, the other fetched", res, err)
	}
}

// Reread (ebb serve's SIGHUP) makes the Runner read the account list at
// once, not at its next Reload: an account added, changed or removed
// while ebb serve runs takes effect without waiting.
func TestRunnerRereadsTheAccountsAtOnce(t *testing.T) {
	reads := make(chan struct{}, 10)
	r := &Runner{F: &Fetcher{}, Reload: time.Hour, Accounts: func(context.Context) ([]*fetchstate.FetchAccount, error) {
		reads <- struct{}{}
		return nil, nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := 1; i <= 3; i++ {
		select {
		case <-reads:
		case <-time.After(10 * time.Second):
			t.Fatalf("read %d of the accounts did not come (Reload is an hour)", i)
		}
		r.Reread()
	}
	select {
	case <-reads:
	case <-time.After(10 * time.Second):
		t.Fatal("the last Reread was not read")
	}
}

// A row from before the digest knows its message only by the hash of
// Message-ID, Date and size. Without a Message-ID that is no identity:
// another message of the same Date and size (a script's mail, two alerts
// in one second) must not pass for it, or its server copy would be
// deleted as delivered although it was never fetched.
func TestRefetchOldHashWithoutMessageIDIsNoIdentity(t *testing.T) {
	dir := testDirectory(t)
	q := newTestQueue(dir)
	srv := newFakeIMAP(t)
	srv.with(func(s *fakeIMAP) { s.uidValidity = 99 })
	const date = "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
	taken := "From: cron@remote.example\r\nSubject: disk 91%\r\n" + date + "\r\nbody A\r\n"
	other := "From: cron@remote.example\r\nSubject: disk 92%\r\n" + date + "\r\nbody B\r\n"
	srv.add(other)
	host, port := srv.addr()
	a := testAccount(t, dir, "w", host, port, "delete")
	ctx := context.Background()
	fetchstate.New(dir).SetFetchFolderState(ctx, "w", "INBOX", fetchstate.FetchFolder{UIDValidity: 7, LastUID: 1})
	head := taken[:strings.Index(taken, "\r\n\r\n")+4]
	fetchstate.New(dir).RecordFetched(ctx, "w", fetchstate.FetchedMessage{Folder: "INBOX", UIDValidity: 7, UID: "1",
		Hash: messageHash([]byte(head), int64(len(taken))), State: fetchstate.FetchDelivered, Removed: true})
	f := testFetcher(dir, q)
	f.Cfg.UIDValidityChange = "refetch"
	res, err := f.Once(ctx, a, nil)
	if err != nil || res.Known != 0 || res.Fetched != 1 {
		t.Fatalf("%+v, %v; want the message fetched, not known by the old row", res, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	var got []string
	for _, b := range q.bodies {
		got = append(got, b)
	}
	if len(got) != 1 || !strings.Contains(got[0], "body B") {
		t.Fatalf("queued: %q; want the other message", got)
	}
}
