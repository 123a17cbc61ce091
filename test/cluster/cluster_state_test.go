package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/cluster"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/journal"
	"github.com/ebbmail/ebb/internal/policy"
	"github.com/ebbmail/ebb/internal/sieve"
	"github.com/ebbmail/ebb/test/harness"
)

// The shared state of several hosts (internal/cluster) against a real
// PostgreSQL: each "host" is its own directory handle and Cluster on one
// database, as three ebb processes would be.
func clusterHosts(t *testing.T, names ...string) []*cluster.Cluster {
	t.Helper()
	dsn := harness.SharedPostgres(t).NewDatabase(t)
	var out []*cluster.Cluster
	for _, n := range names {
		d := harness.OpenDir(t, harness.DirConfig(t.TempDir(), dsn))
		c, err := cluster.Open(context.Background(), d, n, nil)
		if err != nil {
			t.Fatalf("open the shared state as %s: %v", n, err)
		}
		out = append(out, c)
	}
	return out
}

// Of many deliveries to one mailbox from one sender at once, spread over
// three hosts, exactly one claims the vacation response; after the period
// the next one claims it again; a claim given back (the response could not
// be queued) lets the next delivery answer.
func TestClusterVacationClaimedOnceAcrossHosts(t *testing.T) {
	t.Parallel() // a database of its own, no clock bound
	hs := clusterHosts(t, "mx1", "mx2", "mx3")
	ctx := context.Background()
	now := time.Now()
	var claimed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := hs[i%3].SieveState().ClaimAnswer(ctx, "Bob@example.test", "h", "Alice@Example.org", time.Hour, now)
			if err != nil {
				t.Error(err)
			}
			if ok {
				claimed.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := claimed.Load(); n != 1 {
		t.Fatalf("%d of 30 concurrent deliveries on 3 hosts claimed the response; want 1", n)
	}
	for _, h := range hs {
		if ok, err := h.SieveState().Answered(ctx, "bob@example.test", "h", "alice@example.org", now.Add(time.Minute)); err != nil || !ok {
			t.Fatalf("%s: Answered = %v, %v; want true (any spelling of the addresses)", h.Host(), ok, err)
		}
	}
	if ok, _ := hs[1].SieveState().ClaimAnswer(ctx, "bob@example.test", "h", "alice@example.org", time.Hour, now.Add(30*time.Minute)); ok {
		t.Fatal("claimed again within the period")
	}
	if ok, _ := hs[1].SieveState().ClaimAnswer(ctx, "bob@example.test", "h", "alice@example.org", time.Hour, now.Add(61*time.Minute)); !ok {
		t.Fatal("not claimed after the period ended")
	}
	if err := hs[1].SieveState().Unclaim(ctx, "bob@example.test", "h", "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := hs[2].SieveState().ClaimAnswer(ctx, "bob@example.test", "h", "alice@example.org", time.Hour, now.Add(62*time.Minute)); !ok {
		t.Fatal("not claimed after the claim was given back")
	}
	// Another handle is another response.
	if ok, _ := hs[0].SieveState().ClaimAnswer(ctx, "bob@example.test", "other", "alice@example.org", time.Hour, now); !ok {
		t.Fatal("another handle's response not claimed")
	}
}

// A duplicate id one host stored is seen by the others until its period
// ends.
func TestClusterDuplicateSeenAcrossHosts(t *testing.T) {
	t.Parallel() // a database of its own, no clock bound
	hs := clusterHosts(t, "mx1", "mx2")
	ctx := context.Background()
	now := time.Now()
	if ok, _ := hs[1].SieveState().Seen(ctx, "bob@example.test", "", "<m1@x>", now); ok {
		t.Fatal("seen before anything was stored")
	}
	if err := hs[0].SieveState().Remember(ctx, "bob@example.test", []sieve.DuplicateMark{{ID: "<m1@x>", Period: time.Hour}}, now); err != nil {
		t.Fatal(err)
	}
	if ok, err := hs[1].SieveState().Seen(ctx, "BOB@example.test", "", "<m1@x>", now.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("the other host does not see the id: %v %v", ok, err)
	}
	if ok, _ := hs[1].SieveState().Seen(ctx, "bob@example.test", "", "<m1@x>", now.Add(2*time.Hour)); ok {
		t.Fatal("seen after its period")
	}
	if ok, _ := hs[1].SieveState().Seen(ctx, "carol@example.test", "", "<m1@x>", now); ok {
		t.Fatal("another mailbox's id seen")
	}
}

// Two hosts' AUTH guards counting in the shared store give a guesser one
// budget: failures at either host count at both, and a wrong password
// repeated at the other host is known as a repeat (one shared tag key).
func TestClusterAuthBudgetAcrossHosts(t *testing.T) {
	t.Parallel() // a database of its own, no clock bound
	hs := clusterHosts(t, "mx1", "mx2")
	ctx := context.Background()
	limits := policy.AuthLimits{MaxPerIP: 10, MaxPerAccount: 4, Window: 15 * time.Minute}
	g1 := policy.NewAuthGuard(limits, hs[0].AuthStore())
	g2 := policy.NewAuthGuard(limits, hs[1].AuthStore())
	for i := 0; i < 5; i++ {
		g := g1
		if i%2 == 1 {
			g = g2
		}
		if _, err := g.Failed(ctx, "192.0.2.1", "bob@example.test", "guess"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	v, err := g2.Check(ctx, "192.0.2.1", "bob@example.test")
	if err != nil {
		t.Fatal(err)
	}
	if !v.Refused || v.Why != "account" || v.IPFailures != 5 {
		t.Fatalf("after 5 failures over two hosts: %+v; want refused for the account's budget, 5 failures of the source", v)
	}
	// The same wrong password again at the other host: no new guess.
	v, err = g1.Failed(ctx, "192.0.2.7", "alice@example.test", "old-password")
	if err != nil || v.Repeat {
		t.Fatalf("first wrong password: %+v %v", v, err)
	}
	v, err = g2.Failed(ctx, "192.0.2.8", "alice@example.test", "old-password")
	if err != nil || !v.Repeat || v.AccountFailures != 1 {
		t.Fatalf("the same wrong password at the other host: %+v %v; want a repeat, 1 account failure", v, err)
	}
}

// Submission's hourly limit counted over three hosts: of many messages
// from one account at once, spread over the hosts, exactly the limit are
// let through; another account and the client's own limit count apart;
// an hour later the account may send again.
func TestClusterSubmissionLimitAcrossHosts(t *testing.T) {
	t.Parallel() // a database of its own, no clock bound
	hs := clusterHosts(t, "mx1", "mx2", "mx3")
	ctx := context.Background()
	rates := make([]*policy.Rate, len(hs))
	for i, h := range hs {
		rates[i] = policy.NewRate(5, time.Hour)
		rates[i].Store, rates[i].Name = h.RateStore(), "submission-account"
	}
	var took atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func(r *policy.Rate) {
			defer wg.Done()
			ok, err := r.Take(ctx, "bob@example.test")
			if err != nil {
				t.Error(err)
			}
			if ok {
				took.Add(1)
			}
		}(rates[i%3])
	}
	wg.Wait()
	if n := took.Load(); n != 5 {
		t.Fatalf("30 messages at once over three hosts, limit 5 an hour: %d let through", n)
	}
	if ok, err := rates[0].Take(ctx, "carol@example.test"); err != nil || !ok {
		t.Fatalf("another account: %v %v", ok, err)
	}
	perIP := policy.NewRate(5, time.Hour)
	perIP.Store, perIP.Name = hs[1].RateStore(), "submission-ip"
	if ok, err := perIP.Take(ctx, "bob@example.test"); err != nil || !ok {
		t.Fatalf("another limit under the same key: %v %v", ok, err)
	}
	later := time.Now().Add(time.Hour + time.Minute)
	if ok, err := hs[2].RateStore().Take(ctx, "submission-account bob@example.test", 5, time.Hour, later); err != nil || !ok {
		t.Fatalf("an hour later: %v %v", ok, err)
	}
}

// Records three hosts write go to the database in batches; explain on any
// host finds a message by queue id, ref, Message-ID and address, and
// journal.Follow joins the hops: mx1 relayed it to mx2 (NextID), which
// delivered it. A record the database cannot take goes to the fallback.
func TestClusterJournalOneStoryAcrossHosts(t *testing.T) {
	t.Parallel() // a database of its own, no clock bound
	hs := clusterHosts(t, "mx1", "mx2", "mx3")
	ctx := context.Background()
	var fellBack []journal.Record
	var mu sync.Mutex
	fallback := func(r journal.Record) error { mu.Lock(); fellBack = append(fellBack, r); mu.Unlock(); return nil }
	w1, w2 := hs[0].JournalWriter(fallback), hs[1].JournalWriter(fallback)
	t0 := time.Now().UTC().Add(-time.Minute)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	w1.Append(journal.Record{Time: at(0), Event: "received", QueueID: "AAAA1111", From: "alice@example.org", To: []string{"bob@example.test"}, MessageID: "<m@x>"})
	w1.Append(journal.Record{Time: at(1), Event: "delivered", QueueID: "AAAA1111", Rcpt: "bob@example.test", Route: "remote",
		Detail: "relayed to mx2 [127.0.0.2]: 250 2.0.0 Ok: queued as BBBB2222", NextID: "BBBB2222"})
	w2.Append(journal.Record{Time: at(2), Event: "received", QueueID: "BBBB2222", From: "alice@example.org", To: []string{"bob@example.test"}, MessageID: "<m@x>", Client: "127.0.0.1"})
	w2.Append(journal.Record{Time: at(3), Event: "delivered", QueueID: "BBBB2222", Rcpt: "bob@example.test", Route: "local", Detail: "stored for bob@example.test in /m/new/1"})
	w2.Append(journal.Record{Time: at(4), Event: "refused", Stage: "rcpt", Ref: "REFREF22", From: "eve@example.org", To: []string{"nobody@example.test"}})
	w1.Close()
	w2.Close()
	if len(fellBack) != 0 {
		t.Fatalf("%d records fell back to the files with the database up", len(fellBack))
	}
	src := hs[2].JournalSource() // mx3 wrote nothing
	recs, _, err := src.Read(ctx, journal.Query{QueueID: "AAAA1111"})
	if err != nil || len(recs) != 2 {
		t.Fatalf("by queue id: %d records, %v", len(recs), err)
	}
	recs, _, err = journal.Follow(ctx, src, recs, time.Time{})
	if err != nil || len(recs) != 4 {
		t.Fatalf("followed: %d records, %v; want 4 over two hosts", len(recs), err)
	}
	story := strings.Join(journal.Story(recs, time.UTC), "\n")
	for _, want := range []string{"mx1  AAAA1111  received", "mx1  AAAA1111  delivered to <bob@example.test> (remote): relayed to mx2",
		"mx2  BBBB2222  received", "mx2  BBBB2222  delivered to <bob@example.test> (local): stored for"} {
		if !strings.Contains(story, want) {
			t.Errorf("story lacks %q:\n%s", want, story)
		}
	}
	// From the second hop back to the first.
	recs, _, _ = src.Read(ctx, journal.Query{QueueID: "BBBB2222"})
	if recs, _, _ = journal.Follow(ctx, src, recs, time.Time{}); len(recs) != 4 {
		t.Errorf("followed back from the second hop: %d records; want 4", len(recs))
	}
	if recs, _, _ := src.Read(ctx, journal.Query{Ref: "REFREF22", QueueID: "REFREF22"}); len(recs) != 1 || recs[0].Host != "mx2" {
		t.Errorf("by ref: %+v", recs)
	}
	if recs, _, _ := src.Read(ctx, journal.Query{MessageID: "m@x"}); len(recs) != 4 {
		t.Errorf("by Message-ID: %d records; want both hops' 4", len(recs))
	}
	if recs, _, _ := src.Read(ctx, journal.Query{Address: "NOBODY@example.test"}); len(recs) != 1 {
		t.Errorf("by address: %d records; want the refusal", len(recs))
	}
	if recs, _, _ := src.Read(ctx, journal.Query{QueueID: "AAAA1111", Since: at(1)}); len(recs) != 1 {
		t.Errorf("since: %d records; want 1", len(recs))
	}
}

// The shared journal is read by its indexes also when PostgreSQL plans a
// statement once for every value (a generic plan, which the prepared
// statements of a long-lived pool may get, as the page's /explain/ID's):
// stories among thousands of records read their own rows, not the table.
// The reader's sessions force generic plans; the rows read are PostgreSQL's
// own count (pg_stat_user_tables), written when the reader's sessions end.
func TestClusterJournalReadByIndex(t *testing.T) {
	t.Parallel() // a database of its own, no clock bound
	pg := harness.SharedPostgres(t)
	dsn := pg.NewDatabase(t)
	schema := dsn[strings.LastIndex(dsn, "search_path=")+len("search_path="):]
	ctx := context.Background()
	w, err := cluster.Open(ctx, harness.OpenDir(t, harness.DirConfig(t.TempDir(), dsn)), "mx1", nil)
	if err != nil {
		t.Fatal(err)
	}
	jw := w.JournalWriter(nil)
	const n = 3000
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("Q%07d", i)
		jw.Append(journal.Record{Event: "received", QueueID: id, MessageID: "<" + id + "@x>", From: "a@example.org", To: []string{"b@example.test"}})
		jw.Append(journal.Record{Event: "delivered", QueueID: id, Rcpt: "b@example.test", Route: "remote", NextID: "N" + id[1:]})
	}
	jw.Close()
	if jw.Spilled() != 0 {
		t.Fatalf("%d records not written to the database", jw.Spilled())
	}
	stats := func() (scans, rows int64) {
		out := pg.Psql(t, "ebbtest", "SELECT coalesce(idx_scan, 0) + seq_scan, coalesce(idx_tup_fetch, 0) + seq_tup_read FROM pg_stat_user_tables WHERE schemaname = '"+schema+"' AND relname = 'journal'")
		fmt.Sscanf(strings.ReplaceAll(out, "|", " "), "%d %d", &scans, &rows)
		return scans, rows
	}
	scans0, rows0 := stats()
	d, err := directory.Open(ctx, harness.DirConfig(t.TempDir(), dsn+"&plan_cache_mode=force_generic_plan"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := cluster.Attach(ctx, d, "mx2")
	if err != nil {
		t.Fatal(err)
	}
	src := r.JournalSource()
	for i := 0; i < 3; i++ { // again: the statements' cached plans
		for _, q := range []journal.Query{{QueueID: "Q0001500", Ref: "Q0001500"}, {NextID: "N0001500"}, {MessageID: "<Q0001500@x>"}} {
			if recs, _, err := src.Read(ctx, q); err != nil || len(recs) == 0 {
				t.Fatalf("%+v: %d records, %v", q, len(recs), err)
			}
		}
	}
	d.Close() // its sessions end, and write their counts
	var scans, rows int64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if scans, rows = stats(); scans > scans0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL counted no read of the journal within 30 s (%d scans before, %d after)", scans0, scans)
		}
	}
	t.Logf("9 reads of a story: %d scans, %d rows read of the journal's %d", scans-scans0, rows-rows0, 2*n)
	if rows-rows0 > 100 {
		t.Errorf("9 reads of a story read %d rows of the journal's %d: not by its indexes", rows-rows0, 2*n)
	}
}

// A host registers, beats with its queue summary, and stops; the others
// see it live, then stopped; a second live host of the same name is
// reported.
func TestClusterHostsSeeEachOther(t *testing.T) {
	t.Parallel() // a database of its own, no clock bound
	hs := clusterHosts(t, "mx1", "mx2", "mx2")
	ctx := context.Background()
	if err := hs[0].Register(ctx, cluster.Facts{MailRoot: "/m1"}); err != nil {
		t.Fatal(err)
	}
	if err := hs[1].Register(ctx, cluster.Facts{DeliveryHost: "127.0.0.1:25"}); err != nil {
		t.Fatal(err)
	}
	if err := hs[0].Beat(ctx, map[string]int{"messages": 3}); err != nil {
		t.Fatal(err)
	}
	list, err := hs[1].Hosts(ctx)
	if err != nil || len(list) != 2 || !list[0].Live || string(list[0].Queue) != `{"messages":3}` || list[1].Facts.DeliveryHost != "127.0.0.1:25" {
		t.Fatalf("hosts: %+v %v", list, err)
	}
	// The page's and mailq's view: this host marked, each queue read.
	views, err := hs[1].HostViews(ctx)
	if err != nil || len(views) != 2 || views[0].Self || !views[1].Self || views[0].Queue.Messages != 3 || !views[0].Live {
		t.Fatalf("host views from mx2: %+v %v", views, err)
	}
	// A second process calling itself mx2 while mx2 lives: both are told
	// at their next beats, as long as both run.
	if err := hs[2].Register(ctx, cluster.Facts{}); err != nil {
		t.Fatal(err)
	}
	if err := hs[1].Beat(ctx, nil); !errors.Is(err, cluster.ErrNameTaken) {
		t.Fatalf("the first mx2's beat after a second registered: %v; want ErrNameTaken", err)
	}
	if err := hs[2].Beat(ctx, nil); !errors.Is(err, cluster.ErrNameTaken) {
		t.Fatalf("the second mx2's beat: %v; want ErrNameTaken", err)
	}
	if err := hs[2].Beat(ctx, nil); err != nil {
		t.Fatalf("a beat with no other run in between: %v", err)
	}
	if err := hs[0].Stopped(ctx); err != nil {
		t.Fatal(err)
	}
	list, _ = hs[1].Hosts(ctx)
	if list[0].Live || !list[0].Stopped {
		t.Fatalf("mx1 after its stop: %+v", list[0])
	}
}

// Fetch leases between two hosts: one holds an account, the other is told
// who; the lease lives on while renewed; given back, the other takes it at
// once; a holder that stops renewing (dead) loses it to the other within
// the lease; a holder whose lease was taken stops (its context ends); a
// holder that cannot reach the database stops on its own clock before its
// lease could end.
//
// The lease runs on the database's clock, so time passing is what is
// tested; the lease is long enough (3 s: a renewal every second, each
// given 750 ms) that a loaded machine still renews in time, and the waits
// end on the database's clock or the event, not after fixed sleeps.
func TestClusterFetchLeases(t *testing.T) {
	const ttl = 3 * time.Second
	hs := clusterHosts(t, "mx1", "mx2")
	a, b := hs[0].FetchLeases(ttl), hs[1].FetchLeases(ttl)
	ctx := context.Background()
	la, holder, err := a.Acquire(ctx, "acct")
	if err != nil || la == nil || holder != "mx1" {
		t.Fatalf("mx1 takes the free lease: %v %q %v", la, holder, err)
	}
	if lb, holder, err := b.Acquire(ctx, "acct"); lb != nil || holder != "mx1" || err != nil {
		t.Fatalf("mx2 while mx1 holds it: %v %q %v; want no lease, holder mx1", lb, holder, err)
	}
	// Renewed meanwhile: past the end the lease had when taken, by the
	// database's clock, it is still mx1's.
	owners, err := hs[1].Owners(ctx)
	if err != nil || owners["acct"].Host != "mx1" {
		t.Fatalf("owners: %+v %v", owners, err)
	}
	firstEnd := owners["acct"].Until
	harness.WaitFor(t, "the database's clock to pass the lease's first end", ttl+30*time.Second, func() bool {
		var past bool
		return hs[0].DB().QueryRowContext(ctx, `SELECT now() > $1`, firstEnd).Scan(&past) == nil && past
	})
	if la.Context().Err() != nil {
		t.Fatal("mx1's lease ended although it was renewed")
	}
	if lb, _, _ := b.Acquire(ctx, "acct"); lb != nil {
		t.Fatal("mx2 took a lease mx1 renews")
	}
	owners, err = hs[1].Owners(ctx)
	if err != nil || owners["acct"].Host != "mx1" || owners["acct"].Ended || !owners["acct"].Until.After(firstEnd) {
		t.Fatalf("owners: %+v %v; want mx1's lease, renewed past %s", owners, err, firstEnd)
	}
	// Given back: taken at once.
	la.Release()
	lb, _, err := b.Acquire(ctx, "acct")
	if lb == nil || err != nil {
		t.Fatalf("mx2 after mx1 gave the lease back: %v", err)
	}
	// mx2 dies: its renewals stop (its context ends without Release).
	bctx, kill := context.WithCancel(ctx)
	lb.Release()
	lb, _, _ = b.Acquire(bctx, "acct")
	if lb == nil {
		t.Fatal("mx2 could not take the lease again")
	}
	kill()
	died := time.Now()
	var killed time.Time // by the database's clock, which the lease runs on
	if err := hs[0].DB().QueryRowContext(ctx, `SELECT now()`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	var la2 interface{ Context() context.Context }
	for {
		l, _, err := a.Acquire(ctx, "acct")
		if err != nil {
			t.Fatal(err)
		}
		if l != nil {
			la2 = l
			defer l.Release()
			break
		}
		if time.Since(died) > ttl+30*time.Second {
			t.Fatalf("mx1 could not take the lease %s after mx2 died (lease %s)", time.Since(died), ttl)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("mx1 took the lease %s after mx2 stopped renewing (lease %s)", time.Since(died).Round(time.Millisecond), ttl)
	// Within the lease by the database's clock: mx2's last renewal (one
	// may have been on its way) ends by killed+ttl; a second ttl is room
	// for a loaded machine, far below what a lease that outlived its
	// length would take.
	owners, err = hs[1].Owners(ctx)
	if o := owners["acct"]; err != nil || o.Host != "mx1" || o.Since.Sub(killed) > 2*ttl {
		t.Fatalf("owners after mx2 died at %s: %+v %v; want mx1's, taken within the lease", killed, owners, err)
	}
	// Taken from under its holder (as if its lease had ended): the holder
	// stops at its next renewal.
	if _, err := hs[0].DB().ExecContext(ctx, `UPDATE fetch_leases SET host = 'mx2', generation = generation + 1`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-la2.Context().Done():
	case <-time.After(ttl + 30*time.Second): // it stops at its next renewal, within ttl/3
		t.Fatal("a holder whose lease was taken did not stop")
	}
}

// A holder that cannot reach the database stops fetching on its own clock
// before its lease could end in the database.
func TestClusterFetchLeaseHolderStopsWithoutTheDatabase(t *testing.T) {
	const ttl = 2 * time.Second
	pg := harness.StartPostgres(t)
	d := harness.OpenDir(t, harness.DirConfig(t.TempDir(), pg.NewDatabase(t)))
	c, err := cluster.Open(context.Background(), d, "mx1", nil)
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := c.FetchLeases(ttl).Acquire(context.Background(), "acct")
	if err != nil || l == nil {
		t.Fatal(err)
	}
	pg.Stop(t)
	// Its last renewal was before the stop; it must stop within three
	// quarters of the lease after that, before the lease could end (at
	// the renewal plus the whole lease).
	stopped := time.Now()
	select {
	case <-l.Context().Done():
		t.Logf("the holder stopped %s after the database did (lease %s)", time.Since(stopped).Round(time.Millisecond), ttl)
	case <-time.After(ttl - ttl/4 + 300*time.Millisecond):
		t.Fatalf("the holder still fetches %s after the database stopped (lease %s): another host could take the lease meanwhile", time.Since(stopped), ttl)
	}
}
