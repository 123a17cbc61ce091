package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ebbmail/ebb/internal/diag"
)

func TestStartCleansWhatACrashLeft(t *testing.T) {
	cfg := testConfig(t)
	q := openQueue(t, cfg)
	good := receive(t, q, "a@example.org", "Subject: good\r\n\r\nx\r\n", "bob@example.test")
	kept := receive(t, q, "a@example.org", "Subject: keep me\r\n\r\nx\r\n", "bob@example.test")
	q.Close()
	dir := filepath.Join(cfg.Queue.Spool, QueueDir)
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	whole, err := os.ReadFile(filepath.Join(dir, kept+msgExt))
	if err != nil {
		t.Fatal(err)
	}
	// What a kill -9 can leave, and what only disk trouble can.
	write("HOL00000AAAAAA.q", "Subject: half rece")                              // a receive cut short: no trailer
	write("HOL00000DDDDDD.q", "Subject: x\r\n\r\nx\r\n"+`{"version":1,"id":"HO`) // ... cut in its envelope
	write(".HOL00000BBBBBB.state.tmp123", `{"version":1,"id":"HOL0`)             // an envelope write cut short
	write("HOL00000EEEEEE.state", `{"version":1}`)                               // a removal cut short: the message file is gone
	write("HOL00000FFFFFF.msg", "Subject: half rece")                            // an unfinished receive of the format before
	// Damaged: a checksum that does not match (a flipped byte in the
	// envelope), and an envelope of the format before without its data.
	damaged := []byte(strings.Replace(string(whole), `"bob@example.test"`, `"bob@example.tesu"`, 1))
	write(kept+msgExt, string(damaged))
	write("HOL00000CCCCCC.env", `{"version":1,"id":"HOL00000CCCCCC","envel`)
	before, err := List(cfg.Queue.Spool)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Messages) != 1 || before.Incomplete != 3 || len(before.Damaged) != 2 {
		t.Fatalf("mailq before the start: %d messages, %d incomplete, damaged %v", len(before.Messages), before.Incomplete, before.Damaged)
	}

	q2 := openQueue(t, cfg)
	files := strings.Join(spoolFiles(t, q2), " ")
	if files != good+msgExt {
		t.Fatalf("queue dir after the start: %s", files)
	}
	for _, f := range []string{"HOL00000CCCCCC.env", kept + msgExt} {
		if _, err := os.Stat(filepath.Join(cfg.Queue.Spool, CorruptDir, f)); err != nil {
			t.Errorf("damaged entry not set aside: %v", err)
		}
	}
	after, err := List(cfg.Queue.Spool)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Messages) != 1 || after.Incomplete != 0 || len(after.Damaged) != 2 {
		t.Fatalf("mailq after the start: %+v", after)
	}
	rec := newRecorder()
	run(t, q2, Transports{Local: rec})
	if d := rec.wait(t); d.ID != good {
		t.Fatalf("delivered %s", d.ID)
	}
}

func TestConcurrentReceivesShareOneFlush(t *testing.T) {
	for _, mode := range []string{"filesystem", "files"} {
		t.Run("sync="+mode, func(t *testing.T) { concurrentReceives(t, mode) })
	}
}

func concurrentReceives(t *testing.T, mode string) {
	cfg := testConfig(t)
	cfg.Queue.Sync = mode
	q := openQueue(t, cfg)
	const n = 64
	var wg sync.WaitGroup
	ids := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := q.Receive(context.Background(), &Envelope{From: "a@example.org", Recipients: []string{"b@example.test"}},
				strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i)), ReceiveOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			// Returned: its file is already in place, whole.
			if m, err := readMessageFile(filepath.Join(q.dir, id+msgExt)); err != nil || m.ID != id {
				t.Error(id, err)
			}
			ids <- id
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct ids for %d messages", len(seen), n)
	}
	syncs := int(q.dsync.Flushes())
	t.Logf("%d receives, %d flushes", n, syncs)
	if syncs == 0 || syncs > n {
		t.Fatalf("%d flushes for %d receives", syncs, n)
	}
}

// patternReader yields size bytes without holding them.
type patternReader struct{ left int64 }

func (r *patternReader) Read(b []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(b))
	if n > r.left {
		n = r.left
	}
	for i := range b[:n] {
		b[i] = 'x'
	}
	r.left -= n
	return int(n), nil
}

func TestMemoryStaysFlatForAnyMessageSize(t *testing.T) {
	q := openQueue(t, testConfig(t))
	measure := func(size int64) uint64 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := q.Receive(context.Background(), &Envelope{From: "a@example.org", Recipients: []string{"b@example.test"}},
			io.MultiReader(strings.NewReader("Subject: big\r\n\r\n"), &patternReader{left: size}), ReceiveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	measure(1 << 10) // warm the buffer pool
	small := measure(1 << 10)
	big := measure(64 << 20)
	t.Logf("allocated for 1 KiB: %d B, for 64 MiB: %d B", small, big)
	if big > small+256<<10 {
		t.Fatalf("a 64 MiB message allocated %d bytes more than a 1 KiB one", big-small)
	}
}

// failingReader is a client that goes away mid-message.
type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestClientErrorLeavesNothingAndIsPassedThrough(t *testing.T) {
	q := openQueue(t, testConfig(t))
	clientErr := errors.New("connection reset by peer")
	_, err := q.Receive(context.Background(), &Envelope{From: "a@example.org", Recipients: []string{"b@example.test"}},
		io.MultiReader(strings.NewReader("Subject: x\r\n"), failingReader{clientErr}), ReceiveOptions{})
	if !errors.Is(err, clientErr) {
		t.Fatalf("error %v does not wrap the reader's error", err)
	}
	if files := spoolFiles(t, q); len(files) != 0 {
		t.Fatalf("left in the spool: %v", files)
	}
}

// TestFullSpoolIsTemporaryAndLosesNothing mounts a small tmpfs as the
// spool (root only: CI runs as root), fills it and checks 452 4.3.1, that
// nothing accepted before is lost, and that receiving works again once
// space returns.
func TestFullSpoolIsTemporaryAndLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test (mounts a tmpfs, as root); run test/run-all.sh")
	}
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a tmpfs and must run as root; the test command runs it as root")
	}
	for _, mode := range []string{"filesystem", "files"} {
		t.Run("sync="+mode, func(t *testing.T) { fullSpool(t, mode) })
	}
}

func fullSpool(t *testing.T, mode string) {
	cfg := testConfig(t)
	cfg.Queue.Sync = mode
	if err := os.MkdirAll(cfg.Queue.Spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", cfg.Queue.Spool).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", cfg.Queue.Spool).Run() })
	q := openQueue(t, cfg)
	first := receive(t, q, "a@example.org", "Subject: first\r\n\r\nx\r\n", "b@example.test")

	// A message bigger than the filesystem.
	_, err := q.Receive(context.Background(), &Envelope{From: "a@example.org", Recipients: []string{"b@example.test"}},
		&patternReader{left: 2 << 20}, ReceiveOptions{})
	d, ok := diag.As(err)
	if !ok {
		t.Fatalf("error %v is not a diag error", err)
	}
	code, enh, text := d.SMTPReply()
	if code != 452 || enh != [3]int{4, 3, 1} || d.Errno != "ENOSPC" || !d.Temporary() {
		t.Fatalf("full spool: %d %v %q errno %s class %s", code, enh, text, d.Errno, d.Class)
	}
	if strings.Contains(text, cfg.Queue.Spool) {
		t.Fatalf("SMTP reply leaks the path: %s", text)
	}
	if !strings.Contains(d.Sentence(), cfg.Queue.Spool) || !strings.Contains(d.Hint, "df") {
		t.Fatalf("the local sentence names neither the spool nor a fix: %s", d.Sentence())
	}
	// Nothing half-written stays; what was accepted before is intact.
	l, err := List(cfg.Queue.Spool)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Messages) != 1 || l.Messages[0].ID != first || l.Incomplete != 0 {
		t.Fatalf("after ENOSPC: %+v", l)
	}
	// Fill the disk with another file: even a small message is refused ...
	filler := filepath.Join(cfg.Queue.Spool, "filler")
	f, _ := os.Create(filler)
	io.Copy(f, &patternReader{left: 2 << 20})
	f.Close()
	if _, err := q.Receive(context.Background(), &Envelope{From: "a@example.org", Recipients: []string{"b@example.test"}},
		strings.NewReader("Subject: small\r\n\r\nx\r\n"), ReceiveOptions{}); err == nil {
		t.Fatal("a full disk accepted a message")
	} else if d, _ := diag.As(err); d == nil || d.Errno != "ENOSPC" {
		t.Fatalf("small message on a full disk: %v", err)
	}
	// ... and accepted again once space returns.
	os.Remove(filler)
	receive(t, q, "a@example.org", "Subject: after\r\n\r\nx\r\n", "b@example.test")
	rec := newRecorder()
	run(t, q, Transports{Local: rec})
	rec.wait(t)
	rec.wait(t)
	_ = syscall.ENOSPC
}

// With queue.sync = "filesystem" the spool's syncfs group is offered to the
// deliveries (SharedFlush): their flushes are the receives' flushes, counted
// once in Stats.Flushes. With "files" there is none to share.
func TestSharedFlushIsTheReceivesGroup(t *testing.T) {
	cfg := testConfig(t)
	cfg.Queue.Sync = "filesystem"
	q := openQueue(t, cfg)
	fs := q.SharedFlush()
	if fs == nil {
		t.Fatal("no shared flush with queue.sync = filesystem")
	}
	if _, err := q.Receive(context.Background(), &Envelope{From: "a@example.org", Recipients: []string{"b@example.test"}},
		strings.NewReader("Subject: x\r\n\r\nx\r\n"), ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}
	before := q.Stats().Flushes
	if before == 0 {
		t.Fatal("a receive made no flush")
	}
	// A delivery's Maildir on the same filesystem (a sibling of the spool).
	if err := fs.Sync(filepath.Dir(cfg.Queue.Spool)); err != nil {
		t.Fatal(err)
	}
	if after := q.Stats().Flushes; after != before+1 {
		t.Fatalf("flushes %d -> %d after a delivery's Sync, want one more in the same group", before, after)
	}

	cfg2 := testConfig(t)
	cfg2.Queue.Sync = "files"
	if q2 := openQueue(t, cfg2); q2.SharedFlush() != nil {
		t.Fatal("queue.sync = files offers a shared syncfs group")
	}
}

// An unreadable entry that cannot be set aside (spool/corrupt is not a
// directory) stays where it is, and the log says so, not that it was set
// aside; mailq still lists it as damaged.
func TestUnreadableEntryNotSetAsideIsSaid(t *testing.T) {
	cfg := testConfig(t)
	q := openQueue(t, cfg)
	id := receive(t, q, "a@example.org", "Subject: x\r\n\r\nx\r\n", "bob@example.test")
	q.Close()
	path := filepath.Join(cfg.Queue.Spool, QueueDir, id+msgExt)
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte(strings.Replace(string(whole), `"bob@example.test"`, `"bob@example.tesu"`, 1)), 0o600) // checksum off
	os.WriteFile(filepath.Join(cfg.Queue.Spool, CorruptDir), nil, 0o600)                                             // not a directory
	var logb strings.Builder
	q2, err := Open(cfg, slog.New(slog.NewTextHandler(&syncWriter{w: &logb}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	q2.Close()
	if l := logb.String(); !strings.Contains(l, "cannot set aside an unreadable queue entry") || !strings.Contains(l, "queue_id="+id) ||
		strings.Contains(l, `msg="set aside`) {
		t.Errorf("log %q", l)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the entry moved: %v", err)
	}
	if l, err := List(cfg.Queue.Spool); err != nil || len(l.Damaged) != 1 {
		t.Errorf("mailq: %+v, %v; want it listed as damaged", l, err)
	}
}

// A file the queue made as root that it cannot give the spool's owner is
// said (the path, why, queue.spool): ebb serve as server.user may not read
// it, and would otherwise fail later with no word of why.
func TestFileNotGivenTheSpoolsOwnerIsSaid(t *testing.T) {
	cfg := testConfig(t)
	q := openQueue(t, cfg)
	var logb strings.Builder
	q.log = slog.New(slog.NewTextHandler(&syncWriter{w: &logb}, nil))
	q.owner = &[2]int{65534, 65534}
	missing := filepath.Join(cfg.Queue.Spool, "gone")
	q.own(missing)
	if l := logb.String(); !strings.Contains(l, "keeps root's owner") || !strings.Contains(l, missing) ||
		!strings.Contains(l, "no such file or directory") || !strings.Contains(l, "queue.spool") {
		t.Errorf("log %q, want the path, why and the setting", l)
	}
}
