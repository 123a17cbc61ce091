package directory_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
)

// MailboxNow under concurrent readers while another connection changes the
// quota: every read that starts after a change returned sees it (never a
// value kept from before), reads between changes are answered from what
// was kept, and a mailbox that does not exist says so.
func TestMailboxNowSeesEachChangeOfAnotherConnection(t *testing.T) {
	testMailboxNowSeesEachChange(t)
}

// The same where every stat of the database's files is trusted at once
// (settle < 0): the checks between changes are stats, and each change
// of another connection still shows at the next read.
func TestMailboxNowSeesEachChangeThroughTheFiles(t *testing.T) {
	defer directory.SetSettle(-time.Hour)()
	testMailboxNowSeesEachChange(t)
}

// aliceDir is a SQLite directory (resolution cache one hour) holding
// alice@example.com with a quota of quota bytes, its config, and cleanup.
func aliceDir(t *testing.T, quota int64) (*directory.Directory, *config.Config) {
	t.Helper()
	ctx := context.Background()
	c := testConfig(t.TempDir())
	c.Directory.CacheTTL = config.D(3600e9)
	d, err := directory.Open(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddMailbox(ctx, directory.Mailbox{Address: "alice@example.com", Enabled: true, QuotaBytes: quota}); err != nil {
		t.Fatal(err)
	}
	return d, c
}

// openAgain opens c's directory once more: another connection, as an
// admin command's.
func openAgain(t *testing.T, c *config.Config) *directory.Directory {
	t.Helper()
	d, err := directory.Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func testMailboxNowSeesEachChange(t *testing.T) {
	ctx := context.Background()
	d, c := aliceDir(t, 1)
	other := openAgain(t, c)
	if _, err := d.MailboxNow(ctx, "nobody@example.com"); err == nil {
		t.Fatal("MailboxNow of no mailbox: no error")
	}
	for n := int64(2); n <= 40; n++ {
		if err := other.SetQuota(ctx, "alice@example.com", n, 0); err != nil {
			t.Fatal(err)
		}
		q0, _, _ := d.MailboxQueries()
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					mb, err := d.MailboxNow(ctx, "alice@example.com")
					if err != nil {
						t.Error(err)
						return
					}
					if mb.QuotaBytes != n {
						t.Errorf("quota %d after another connection set %d", mb.QuotaBytes, n)
					}
				}
			}()
		}
		wg.Wait()
		// 40 reads after one change: a few queries at most (readers
		// that met the change before the first query was kept), not 40.
		if q, _, _ := d.MailboxQueries(); q-q0 > 8 {
			t.Errorf("40 reads after one change made %d queries", q-q0)
		}
	}
	if mb, _ := d.MailboxNow(ctx, "alice@example.com"); mb.PasswordHash != "" {
		t.Error("MailboxNow keeps the password hash")
	}
}

// The delivery's quota read: a query (Mailbox) against a change check and
// what was kept (MailboxNow: data_version read each time; with the files
// settled, two stat calls), by 8 goroutines at once as deliveries run.
func BenchmarkMailboxRead(b *testing.B) {
	ctx := context.Background()
	c := testConfig(b.TempDir())
	d, err := directory.Open(ctx, c)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	d.AddDomain(ctx, "example.com")
	d.AddMailbox(ctx, directory.Mailbox{Address: "alice@example.com", Enabled: true, QuotaBytes: 1000})
	for _, r := range []struct {
		name   string
		read   func(context.Context, string) (*directory.Mailbox, error)
		settle time.Duration
	}{{"query", d.Mailbox, time.Second}, {"now", d.MailboxNow, time.Hour}, {"now-settled", d.MailboxNow, -time.Hour}} {
		b.Run(r.name, func(b *testing.B) {
			defer directory.SetSettle(r.settle)()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := r.read(ctx, "alice@example.com"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// A directory opened read-only (ebb deliver: one message per process)
// keeps no connection for the change check: it reads the mailbox.
func TestMailboxNowReadOnlyReads(t *testing.T) {
	ctx := context.Background()
	_, c := aliceDir(t, 7)
	ro, err := directory.OpenForReading(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for range 2 {
		if mb, err := ro.MailboxNow(ctx, "alice@example.com"); err != nil || mb.QuotaBytes != 7 {
			t.Fatalf("%+v, %v", mb, err)
		}
	}
	if q, checks, _ := ro.MailboxQueries(); q != 2 || checks != 0 {
		t.Errorf("read-only: %d queries, %d change checks; want 2 and 0", q, checks)
	}
}

// Between changes, once the files are settled, a change check is two stat
// calls, not a statement: reads after the first make no data_version read
// and no query; a change by another connection (plain SQL) is seen at the
// next read, and a write through this Directory too.
func TestMailboxNowStatPathBetweenChanges(t *testing.T) {
	defer directory.SetSettle(-time.Hour)()
	ctx := context.Background()
	d, c := aliceDir(t, 1)
	other := openAgain(t, c)
	read := func(want int64) {
		t.Helper()
		mb, err := d.MailboxNow(ctx, "alice@example.com")
		if err != nil || mb.QuotaBytes != want {
			t.Fatalf("quota %+v, %v; want %d", mb, err, want)
		}
	}
	read(1)
	read(1)
	q0, c0, v0 := d.MailboxQueries()
	for range 10 {
		read(1)
	}
	if q, c, v := d.MailboxQueries(); q != q0 || v != v0 || c != c0+10 {
		t.Errorf("10 reads of settled files: %d queries, %d checks, %d data_version reads; want 0, 10, 0", q-q0, c-c0, v-v0)
	}
	for i, set := range []func() error{
		func() error {
			_, err := other.DB().ExecContext(ctx, `UPDATE mailboxes SET quota_bytes = 2`)
			return err
		},
		func() error { return d.SetQuota(ctx, "alice@example.com", 3, 0) },
		func() error { return other.SetQuota(ctx, "alice@example.com", 4, 0) },
	} {
		if err := set(); err != nil {
			t.Fatal(err)
		}
		read(int64(i + 2))
		read(int64(i + 2))
	}
}
