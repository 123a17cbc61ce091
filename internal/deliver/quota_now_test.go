package deliver

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
)

// quotaDirConfig is a config whose directory is SQLite in dataDir, with the
// resolution cache on (directory.cache_ttl 1h): a quota read from it would
// stay for the whole test.
func quotaDirConfig(t *testing.T, dataDir, root string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.toml", []byte("[server]\nhostname = \"mx.test\"\ndata_dir = \""+dataDir+
		"\"\n[mail]\nroot = \""+root+"\"\n[directory]\ncache_ttl = \"1h\"\nargon2_memory = \"8M\"\nargon2_time = 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// quotaDir is a SQLite directory holding alice@example.com with a quota
// of quota bytes, its config and its data directory.
func quotaDir(t *testing.T, quota int64) (*config.Config, *directory.Directory, string) {
	t.Helper()
	ctx := context.Background()
	dataDir := t.TempDir()
	cfg := quotaDirConfig(t, dataDir, t.TempDir())
	dir, err := directory.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	if err := dir.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if err := dir.AddMailbox(ctx, directory.Mailbox{Address: "alice@example.com", Enabled: true, QuotaBytes: quota}); err != nil {
		t.Fatal(err)
	}
	return cfg, dir, dataDir
}

// TestQuotaSetterProcess is not a test: run by TestQuotaChangedByAnotherProcess
// as another process, it sets alice's quota in the directory given in the
// environment, as ebb user set --quota does, and exits.
func TestQuotaSetterProcess(t *testing.T) {
	dataDir := os.Getenv("EBB_TEST_QUOTA_DIR")
	if dataDir == "" {
		return
	}
	n, err := strconv.ParseInt(os.Getenv("EBB_TEST_QUOTA_BYTES"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	d, err := directory.Open(context.Background(), quotaDirConfig(t, dataDir, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.SetQuota(context.Background(), "alice@example.com", n, 0); err != nil {
		t.Fatal(err)
	}
}

// A quota changed by another process (ebb user set --quota) applies at the
// next delivery of a daemon whose directory has the mailbox cached — both
// ways, several times — and, while nothing changes, deliveries read the
// mailbox from what they kept instead of querying the database each time.
// It fails if the kept quota is never dropped (the first change would not
// apply) and if it is never used (the query count would grow).
func TestQuotaChangedByAnotherProcess(t *testing.T) {
	ctx := context.Background()
	cfg, dir, dataDir := quotaDir(t, 100000)
	a := &Agent{Cfg: cfg, Resolver: dir}
	msg := filepath.Join(t.TempDir(), "msg")
	os.WriteFile(msg, []byte("Subject: hi\r\n\r\n"+strings.Repeat("a line of a message\r\n", 100)), 0o600) // ~2 KiB
	deliverOne := func() error {
		t.Helper()
		_, err := a.DeliverFile(ctx, msg, Envelope{Sender: "x@example.net", Recipient: "alice@example.com"})
		return err
	}
	setQuota := func(n int64) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestQuotaSetterProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "EBB_TEST_QUOTA_DIR="+dataDir, "EBB_TEST_QUOTA_BYTES="+strconv.FormatInt(n, 10))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the other process: %v\n%s", err, out)
		}
	}

	if err := deliverOne(); err != nil {
		t.Fatalf("first delivery under 100000 bytes: %v", err)
	}
	// Nothing changed: the next deliveries use what the first one read.
	q0, _, _ := dir.MailboxQueries()
	for range 5 {
		if err := deliverOne(); err != nil {
			t.Fatal(err)
		}
	}
	if q, checks, _ := dir.MailboxQueries(); q != q0 || checks < 5 {
		t.Errorf("5 deliveries with no change made %d mailbox queries and %d change checks, want 0 queries and ≥ 5 checks", q-q0, checks)
	}
	for i, c := range []struct {
		quota   int64
		deliver bool
	}{{1000, false}, {100000, true}, {1000, false}, {0, true}} {
		setQuota(c.quota)
		err := deliverOne()
		if c.deliver && err != nil {
			t.Fatalf("step %d: the quota set to %d by another process: the next delivery failed: %v", i, c.quota, err)
		}
		if !c.deliver && (err == nil || !strings.Contains(err.Error(), "quota")) {
			t.Fatalf("step %d: the quota lowered to %d by another process: the next delivery gave %v, want over quota", i, c.quota, err)
		}
	}
	// The change seen also emptied the resolution cache (1h here): a
	// resolution now carries the quota the other process set last.
	res, err := dir.Resolve(ctx, "alice@example.com")
	if err != nil || len(res.Mailboxes) != 1 || res.Mailboxes[0].QuotaBytes != 0 {
		t.Errorf("resolution after the changes: %+v, %v; want alice with quota 0", res, err)
	}
}

// The same through another connection of this process (another Directory on
// the same file, as an admin command in the same program would be), and
// directly by SQL, which no Directory method sees: only the database's own
// change counter does. A raised quota stops the refusal at once too
// (Fresh), though the resolution the refusal is given is a cached one.
func TestQuotaChangedByAnotherConnection(t *testing.T) {
	ctx := context.Background()
	cfg, dir, _ := quotaDir(t, 1000)
	other, err := directory.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	res, err := dir.Resolve(ctx, "alice@example.com") // cached for an hour from here
	if err != nil {
		t.Fatal(err)
	}
	if e := Refusal(cfg, Fresh(ctx, dir, res, nil), 5000); e == nil || e.SMTPCode != 552 {
		t.Fatalf("5000 bytes under a 1000-byte quota: %v, want 552", e)
	}
	if err := other.SetQuota(ctx, "alice@example.com", 10000, 0); err != nil {
		t.Fatal(err)
	}
	if e := Refusal(cfg, Fresh(ctx, dir, res, nil), 5000); e != nil {
		t.Fatalf("quota raised to 10000 through another connection: still refused: %v", e)
	}
	if _, err := other.DB().ExecContext(ctx, `UPDATE mailboxes SET quota_bytes = 2000`); err != nil {
		t.Fatal(err)
	}
	if e := Refusal(cfg, Fresh(ctx, dir, res, nil), 5000); e == nil {
		t.Fatal("quota lowered to 2000 by SQL: not refused")
	}
	a := &Agent{Cfg: cfg, Resolver: dir}
	msg := filepath.Join(t.TempDir(), "msg")
	os.WriteFile(msg, []byte("Subject: big\r\n\r\n"+strings.Repeat("x", 3000)+"\r\n"), 0o600)
	if _, err := a.DeliverFile(ctx, msg, Envelope{Recipient: "alice@example.com"}); err == nil {
		t.Fatal("3000 bytes delivered under a quota of 2000 set by SQL")
	}
	if _, err := other.DB().ExecContext(ctx, `UPDATE mailboxes SET quota_bytes = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeliverFile(ctx, msg, Envelope{Recipient: "alice@example.com"}); err != nil {
		t.Fatalf("quota removed by SQL: the next delivery failed: %v", err)
	}
}

// A mailbox the directory cannot read now keeps its cached reading (the
// quota is decided on it), and that is said: Fresh tells the caller (ebb
// serve logs, counts and notes it), and a delivery logs it, tells
// QuotaCached and notes it in its outcome (the delivery's record).
func TestCachedQuotaIsSaid(t *testing.T) {
	ctx := context.Background()
	cfg, dir, _ := quotaDir(t, 1000)
	res, err := dir.Resolve(ctx, "alice@example.com") // cached for an hour from here
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{Cfg: cfg, Resolver: dir}
	cached := 0
	a.QuotaCached = func() { cached++ }
	var logged strings.Builder
	a.Log = slog.New(slog.NewTextHandler(&logged, nil))
	dir.Close() // the directory can no longer be read
	var told []string
	fresh := Fresh(ctx, dir, res, func(address string, err error) { told = append(told, address+": "+err.Error()) })
	if len(told) != 1 || !strings.HasPrefix(told[0], "alice@example.com: ") {
		t.Errorf("Fresh told %q, want alice@example.com and the directory's error", told)
	}
	if e := Refusal(cfg, fresh, 5000); e == nil || e.SMTPCode != 552 {
		t.Errorf("5000 bytes under the cached 1000-byte quota: %v, want 552", e)
	}
	msg := filepath.Join(t.TempDir(), "msg")
	os.WriteFile(msg, []byte("Subject: small\r\n\r\nx\r\n"), 0o600)
	rep, err := a.DeliverFile(ctx, msg, Envelope{Recipient: "alice@example.com"})
	if err != nil {
		t.Fatalf("delivery on the cached quota: %v", err)
	}
	if cached != 1 {
		t.Errorf("QuotaCached told %d times, want 1", cached)
	}
	if len(rep.Outcomes) != 1 || len(rep.Outcomes[0].Notes) != 1 || !strings.Contains(rep.Outcomes[0].Notes[0], "decided on the cached mailbox") ||
		!strings.Contains(rep.Outcomes[0].Notes[0], "<alice@example.com>") {
		t.Errorf("outcomes %+v, want a note of the cached quota", rep.Outcomes)
	}
	if !strings.Contains(logged.String(), "quota decided on the cached mailbox") || !strings.Contains(logged.String(), "mailbox=alice@example.com") {
		t.Errorf("log %q", logged.String())
	}
}
