package directory_test

import (
	"context"
	"sync"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
)

// MailboxNow under concurrent readers while another connection changes the
// quota: every read that starts after a change returned sees it (never a
// value kept from before), reads between changes are answered from what
// was kept, and a mailbox that does not exist says so.
func TestMailboxNowSeesEachChangeOfAnotherConnection(t *testing.T) {
	ctx := context.Background()
	c := testConfig(t.TempDir())
	c.Directory.CacheTTL = config.D(3600e9)
	d, err := directory.Open(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	other, err := directory.Open(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := d.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddMailbox(ctx, directory.Mailbox{Address: "alice@example.com", Enabled: true, QuotaBytes: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.MailboxNow(ctx, "nobody@example.com"); err == nil {
		t.Fatal("MailboxNow of no mailbox: no error")
	}
	for n := int64(2); n <= 40; n++ {
		if err := other.SetQuota(ctx, "alice@example.com", n, 0); err != nil {
			t.Fatal(err)
		}
		q0, _ := d.MailboxQueries()
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
		if q, _ := d.MailboxQueries(); q-q0 > 8 {
			t.Errorf("40 reads after one change made %d queries", q-q0)
		}
	}
	if mb, _ := d.MailboxNow(ctx, "alice@example.com"); mb.PasswordHash != "" {
		t.Error("MailboxNow keeps the password hash")
	}
}

// The delivery's quota read: a query (Mailbox) against a change check and
// what was kept (MailboxNow), by 8 goroutines at once as deliveries run.
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
		name string
		read func(context.Context, string) (*directory.Mailbox, error)
	}{{"query", d.Mailbox}, {"now", d.MailboxNow}} {
		b.Run(r.name, func(b *testing.B) {
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
	c := testConfig(t.TempDir())
	d, err := directory.Open(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddMailbox(ctx, directory.Mailbox{Address: "alice@example.com", Enabled: true, QuotaBytes: 7}); err != nil {
		t.Fatal(err)
	}
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
	if q, checks := ro.MailboxQueries(); q != 2 || checks != 0 {
		t.Errorf("read-only: %d queries, %d change checks; want 2 and 0", q, checks)
	}
}
