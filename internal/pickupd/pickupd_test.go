package pickupd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/pickup"
	"github.com/ebbmail/ebb/internal/queue"
)

// sink is the queue: it records what each Receive was handed.
type sink struct {
	mu   sync.Mutex
	got  []*queue.Envelope
	opts []queue.ReceiveOptions
	data []string
	err  error
}

func (s *sink) Receive(ctx context.Context, env *queue.Envelope, data io.Reader, opt queue.ReceiveOptions) (string, error) {
	b, err := io.ReadAll(data)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return "", s.err
	}
	s.got = append(s.got, env)
	s.opts = append(s.opts, opt)
	s.data = append(s.data, string(b))
	return "Q" + string(rune('0'+len(s.got))), nil
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func start(t *testing.T, dir string, q queue.Receiver) (*Receiver, func()) {
	t.Helper()
	r := &Receiver{Dir: dir, UID: -1, GID: -1, Queue: q, Hostname: "mx.example.test", Interval: time.Hour}
	if err := r.Bind(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx) }()
	return r, func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

var env = &pickup.Envelope{From: "alice@example.test", Recipients: []string{"bob@example.test"}}

func writeMsg(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

func files(t *testing.T, dir, prefix string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, prefix+"*"))
	return m
}

func TestSubmitThroughTheSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pickup")
	s := &sink{}
	_, stop := start(t, dir, s)
	defer stop()
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode()&os.ModePerm != 0o733 || fi.Mode()&os.ModeSetgid == 0 || fi.Mode()&os.ModeSticky == 0 {
		t.Fatalf("pickup directory mode %v, want 3733 (%v)", fi.Mode(), err)
	}
	d := &pickup.Drop{Dir: dir, Timeout: 10 * time.Second}
	res, err := d.Submit(context.Background(), env, writeMsg("Subject: hi\n\nbody\n"))
	if err != nil {
		t.Fatal(err)
	}
	if res.QueueID != "Q1" || res.File != "" {
		t.Fatalf("result %+v, want queued by the daemon", res)
	}
	if s.count() != 1 || s.data[0] != "Subject: hi\r\n\r\nbody\r\n" {
		t.Fatalf("daemon got %q", s.data)
	}
	// The envelope the queue gets: the uid the kernel vouched for in the
	// Received line and as the client, the way it came, the recipients.
	uid := fmt.Sprintf("from userid %d", os.Getuid())
	if e := s.got[0]; !strings.HasPrefix(e.Prefix, "Received: by mx.example.test (ebb sendmail via socket, "+uid) ||
		e.ClientName != fmt.Sprintf("uid %d %s", os.Getuid(), diag.UserName(os.Getuid())) || e.Proto != "local" ||
		!strings.HasPrefix(e.SessionID, "socket:") || e.From != "alice@example.test" || e.Recipients[0] != "bob@example.test" {
		t.Errorf("envelope %+v", e)
	}
	if s.opts[0].Via != queue.ViaPickup || s.opts[0].Check != nil {
		t.Errorf("receive options %+v", s.opts[0])
	}
	if left := append(files(t, dir, "t."), files(t, dir, "m.")...); len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
}

func TestSubmitWithTheDaemonDownThenPickup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pickup")
	s := &sink{}
	r, stop := start(t, dir, s)
	stop() // the daemon is down; its directory stays
	d := &pickup.Drop{Dir: dir, Timeout: time.Second}
	res, err := d.Submit(context.Background(), env, writeMsg("Subject: later\n\nbody\n"))
	if err != nil {
		t.Fatal(err)
	}
	if res.File == "" || res.QueueID != "" || res.Why == nil {
		t.Fatalf("result %+v, want left in the pickup directory", res)
	}
	fi, err := os.Stat(res.File)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("pickup file mode %v %v, want 0640", fi.Mode(), err)
	}
	// The daemon starts again and scans.
	r2, stop2 := start(t, dir, s)
	defer stop2()
	r2.Scan(context.Background())
	_ = r
	if s.count() != 1 || !strings.HasPrefix(s.got[0].SessionID, "pickup:m.") || !strings.Contains(s.data[0], "Subject: later\r\n") {
		t.Fatalf("picked up %d: %q", s.count(), s.data)
	}
	if len(files(t, dir, "m.")) != 0 {
		t.Error("the picked-up file is still there")
	}
}

func TestSubmitDaemonTroubleFallsBackToTheDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pickup")
	s := &sink{err: diag.New("create", "create a file in", "/spool", errors.New("disk full"))}
	r, stop := start(t, dir, s)
	defer stop()
	d := &pickup.Drop{Dir: dir, Timeout: 10 * time.Second}
	res, err := d.Submit(context.Background(), env, writeMsg("x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if res.File == "" || !strings.Contains(res.Why.Error(), "disk full") {
		t.Fatalf("result %+v: want the file left, with the daemon's reason", res)
	}
	s.mu.Lock()
	s.err = nil
	s.mu.Unlock()
	r.Scan(context.Background())
	if s.count() != 1 {
		t.Fatal("not picked up once the trouble was over")
	}
}

func TestSubmitPermanentRefusal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pickup")
	r := &Receiver{Dir: dir, UID: -1, GID: -1, Interval: time.Hour, MaxSize: 10,
		Queue: &sink{}}
	if err := r.Bind(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Serve(ctx)
	_, err := (&pickup.Drop{Dir: dir}).Submit(context.Background(), env, writeMsg(strings.Repeat("x", 100)+"\n"))
	var ref *pickup.Refusal
	if !errors.As(err, &ref) || !strings.Contains(ref.Error(), "larger than smtp.max_message_size") {
		t.Fatalf("err %v, want a permanent refusal naming the size limit", err)
	}
	if left := append(files(t, dir, "t."), files(t, dir, "m.")...); len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
}

func TestScanRefusesHardLinksAndJunk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pickup")
	s := &sink{}
	r, stop := start(t, dir, s)
	defer stop()
	other := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(other, []byte(pickup.Magic+`{"from":"","recipients":["x@example.test"]}`+"\nsecret\n"), 0o600)
	os.Link(other, filepath.Join(dir, "m.link"))
	os.WriteFile(filepath.Join(dir, "m.junk"), []byte("not a pickup file\n"), 0o600)
	os.Symlink(other, filepath.Join(dir, "m.symlink"))
	r.Scan(context.Background())
	if s.count() != 0 {
		t.Fatalf("queued %q", s.data)
	}
	for _, n := range []string{"x.link", "x.junk", "x.symlink"} {
		if _, err := os.Lstat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s not set aside: %v", n, err)
		}
	}
}

// flushConfig is a config whose pickup directory is dir.
func flushConfig(t *testing.T, dir string) *config.Config {
	t.Helper()
	cfg := config.Defaults()
	cfg.Sendmail.PickupDir = dir
	return cfg
}

func TestFlushAsksTheDaemon(t *testing.T) {
	dir := t.TempDir()
	cfg := flushConfig(t, dir)
	if d := pickup.DropFor(cfg); d.Dir != dir || d.Timeout != cfg.Sendmail.Timeout.Duration {
		t.Errorf("DropFor = %+v", d)
	}
	// No daemon: temporary, naming the socket, with the fix.
	err := pickup.Flush(context.Background(), cfg, "")
	d, ok := diag.As(err)
	if !ok || d.ExitCode() != diag.ExTempFail || d.Path != pickup.SocketPath(dir, "") || !strings.Contains(d.Hint, "start ebb serve") {
		t.Fatalf("Flush without a daemon: %v", err)
	}
	// A daemon that flushes, then one that cannot.
	var asked []string
	r, stop := start(t, dir, &sink{})
	r.Flush = func(ctx context.Context, id string) error {
		asked = append(asked, id)
		if id == "BAD" {
			return errors.New("no such message")
		}
		return nil
	}
	if err := pickup.Flush(context.Background(), cfg, "Q1"); err != nil {
		t.Errorf("Flush: %v", err)
	}
	err = pickup.Flush(context.Background(), cfg, "BAD")
	var ref *pickup.Refusal
	if !errors.As(err, &ref) || ref.ExitCode() != diag.ExTempFail || !strings.Contains(ref.Error(), "no such message") {
		t.Errorf("a refused flush: %v", err)
	}
	stop()
	if strings.Join(asked, ",") != "Q1,BAD" {
		t.Errorf("the daemon was asked %q", asked)
	}
}

// Drop.Queue, ebb's own mail through the pickup: the daemon's queue id
// when it takes the message, else "pickup:FILE" for the file it will take.
func TestDropQueueSaysWhereTheMessageIs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pickup")
	s := &sink{}
	_, stop := start(t, dir, s)
	d := &pickup.Drop{Dir: dir, Timeout: 10 * time.Second}
	id, err := d.Queue(context.Background(), "", []string{"bob@example.test"}, strings.NewReader("Subject: vacation\n\naway\n"))
	if err != nil || id != "Q1" {
		t.Fatalf("with the daemon: %q, %v", id, err)
	}
	if e := s.got[0]; e.From != "" || e.Recipients[0] != "bob@example.test" || s.data[0] != "Subject: vacation\r\n\r\naway\r\n" {
		t.Fatalf("queued %+v %q", e, s.data[0])
	}
	stop()
	id, err = d.Queue(context.Background(), "alice@example.test", []string{"bob@example.test"}, strings.NewReader("Subject: later\n\nx\n"))
	if err != nil || !strings.HasPrefix(id, "pickup:"+dir+"/"+pickup.ReadyPrefix) {
		t.Fatalf("without the daemon: %q, %v", id, err)
	}
	if _, err := os.Stat(strings.TrimPrefix(id, "pickup:")); err != nil {
		t.Fatalf("the file it names: %v", err)
	}
}

// A ready file whose owner cannot be read (Fstat fails) is left for the
// next scan, and that is said: an error line naming the file and why.
func TestUnstatableReadyFileIsSaid(t *testing.T) {
	dir := t.TempDir()
	r, s, logged := loggedReceiver(dir)
	p := filepath.Join(dir, pickup.ReadyPrefix+"stat")
	os.WriteFile(p, []byte(pickup.Magic+`{"from":"","recipients":["x@example.test"]}`+"\nhi\n"), 0o600)
	defer func(f func(int, *syscall.Stat_t) error) { fstat = f }(fstat)
	fstat = func(int, *syscall.Stat_t) error { return syscall.EIO }
	r.Scan(context.Background())
	if s.count() != 0 {
		t.Fatalf("queued %q", s.data)
	}
	if _, err := os.Lstat(p); err != nil {
		t.Errorf("the ready file was not left for the next scan: %v", err)
	}
	if l := logged.String(); !strings.Contains(l, "cannot read a ready file's owner") || !strings.Contains(l, p) || !strings.Contains(l, "input/output error") {
		t.Errorf("log %q, want the file and why", l)
	}
}

// A refused file that cannot be set aside (x.NAME is a directory with
// something in it) and a stale file that cannot be removed (a directory
// with something in it) are said, not logged as done: root cannot bypass
// either.
func TestPickupFilesNotMovedAreSaid(t *testing.T) {
	dir := t.TempDir()
	r, s, logged := loggedReceiver(dir)
	junk := filepath.Join(dir, pickup.ReadyPrefix+"junk")
	os.WriteFile(junk, []byte("not a pickup file\n"), 0o600)
	os.MkdirAll(filepath.Join(dir, "x.junk", "in"), 0o700)
	stale := filepath.Join(dir, pickup.TmpPrefix+"old")
	os.MkdirAll(filepath.Join(stale, "in"), 0o700)
	old := time.Now().Add(-2 * staleAfter)
	os.Chtimes(stale, old, old)
	r.Scan(context.Background())
	if s.count() != 0 {
		t.Fatalf("queued %q", s.data)
	}
	l := logged.String()
	if !strings.Contains(l, "cannot be set aside and stays") || !strings.Contains(l, "file="+junk) || strings.Contains(l, "the file is kept") {
		t.Errorf("log %q, want the refused file said to stay under its ready name", l)
	}
	if !strings.Contains(l, "cannot remove a stale file") || !strings.Contains(l, "file="+stale) || strings.Contains(l, "removed stale file") {
		t.Errorf("log %q, want the stale file said not removed", l)
	}
	if _, err := os.Lstat(junk); err != nil {
		t.Errorf("the refused file: %v", err)
	}
}

// loggedReceiver is a Receiver on dir, not bound (Scan alone), with its
// sink and what it logs.
func loggedReceiver(dir string) (*Receiver, *sink, *strings.Builder) {
	logged := &strings.Builder{}
	s := &sink{}
	return &Receiver{Dir: dir, UID: -1, GID: -1, Queue: s, Hostname: "mx.example.test", Interval: time.Hour,
		Log: slog.New(slog.NewTextHandler(logged, nil))}, s, logged
}
