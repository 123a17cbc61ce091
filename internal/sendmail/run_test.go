package sendmail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/pickup"
	"github.com/ebbmail/ebb/internal/pickupd"
	"github.com/ebbmail/ebb/internal/queue"
)

// received is what the test's daemon was handed.
type received struct {
	Env  queue.Envelope
	Data string
}

// daemon is the pickup's receiving side (internal/pickupd) in the test:
// its queue takes each message as queue id Q1 and hands it to the
// channel; messages over maxSize are refused (0: none).
func daemon(t *testing.T, cfg *config.Config, maxSize int64) chan received {
	t.Helper()
	subs := make(chan received, 10)
	r := &pickupd.Receiver{Dir: cfg.PickupDir(), UID: -1, GID: -1, Interval: time.Hour, MaxSize: maxSize, Hostname: cfg.Server.Hostname,
		Queue: queueFunc(func(ctx context.Context, env *queue.Envelope, data io.Reader, opt queue.ReceiveOptions) (string, error) {
			b, err := io.ReadAll(data)
			subs <- received{*env, string(b)}
			return "Q1", err
		})}
	if err := r.Bind(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return subs
}

func testConfig(t *testing.T) *config.Config {
	cfg := config.Defaults()
	cfg.Sendmail.PickupDir = filepath.Join(t.TempDir(), "pickup")
	cfg.Server.Hostname = "mx.example.test"
	cfg.Sendmail.Domain = "example.test"
	cfg.Sendmail.Timeout = config.D(30 * time.Second)
	return cfg
}

// -bs: SMTP on a pipe. A bare postmaster is qualified with sendmail.domain,
// a missing From and Message-ID are added, the reply names the queue id;
// a message the daemon refuses gets a 554 with its sentence, and the next
// transaction on the same session still works.
func TestServeSMTPSubmitsThroughThePickup(t *testing.T) {
	cfg := testConfig(t)
	subs := daemon(t, cfg, 400)
	in := "EHLO client\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster>\r\nDATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\n" +
		"MAIL FROM:<alice@example.test>\r\nRCPT TO:<carol@example.org>\r\nDATA\r\nSubject: big\r\n\r\n" + strings.Repeat("x", 500) + "\r\n.\r\nQUIT\r\n"
	var out bytes.Buffer
	caller := Caller{Login: "alice", Domain: "example.test", Hostname: "mx.example.test", Name: "Alice A"}
	if err := ServeSMTP(context.Background(), cfg, pickup.DropFor(cfg), caller, strings.NewReader(in), &out); err != nil {
		t.Fatalf("ServeSMTP: %v\n%s", err, out.String())
	}
	replies := out.String()
	if !strings.HasPrefix(replies, "220 mx.example.test") || !strings.Contains(replies, "250 2.0.0 Ok: queued as Q1\r\n") ||
		!strings.Contains(replies, "554 5.0.0 ebb serve: cannot accept: message of ") || !strings.Contains(replies, "larger than smtp.max_message_size") ||
		!strings.Contains(replies, "\r\n221 2.0.0 ") {
		t.Errorf("replies:\n%s", replies)
	}
	var s received
	select { // the 250 came after the daemon took it
	case s = <-subs:
	default:
		t.Fatalf("nothing handed over; replies:\n%s", replies)
	}
	data := s.Data
	if s.Env.From != "" || strings.Join(s.Env.Recipients, ",") != "postmaster@example.test" {
		t.Errorf("envelope %+v", s.Env)
	}
	if !strings.Contains(data, "From: Alice A <alice@example.test>\r\n") || !strings.Contains(data, "Message-ID: <") ||
		!strings.Contains(data, "Date: ") || !strings.HasSuffix(data, "\r\n\r\nbody\r\n") {
		t.Errorf("message:\n%s", data)
	}
	select {
	case s := <-subs:
		t.Errorf("the refused message was handed over: %+v", s.Env)
	default:
	}
	// Replies that cannot be written are an error (exit 74 in Run).
	if err := ServeSMTP(context.Background(), cfg, pickup.DropFor(cfg), caller, strings.NewReader("EHLO x\r\n"), brokenPipe{}); err == nil {
		t.Error("replies to a broken pipe: no error")
	}
}

type brokenPipe struct{}

func (brokenPipe) Write([]byte) (int, error) { return 0, syscall.EPIPE }

// The default mode submits the message on stdin; -v says where it went.
// Without a daemon the message waits in the pickup directory (still
// durable: exit 0). -q without a daemon is temporary and names the
// socket; -bs on a broken pipe is 74 with nothing printed.
func TestRunModes(t *testing.T) {
	cfg := testConfig(t)
	run := func(args []string, in string) (string, error) {
		t.Helper()
		o, err := Parse("sendmail", args)
		if err != nil {
			t.Fatal(err)
		}
		var errOut bytes.Buffer
		err = Run(context.Background(), cfg, o, strings.NewReader(in), io.Discard, &errOut, time.Now)
		return errOut.String(), err
	}
	// No daemon yet; the pickup directory it made is there.
	if err := os.MkdirAll(cfg.PickupDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if said, err := run([]string{"-v", "bob@example.org"}, "Subject: x\n\nhi\n"); err != nil || !strings.Contains(said, "sendmail: left for the daemon in "+cfg.PickupDir()) {
		t.Errorf("without a daemon: %v, %q", err, said)
	}
	_, err := run([]string{"-q"}, "")
	if d, ok := diag.As(err); !ok || d.ExitCode() != diag.ExTempFail || !strings.Contains(d.Sentence(), "flush") {
		t.Errorf("-q without a daemon: %v", err)
	}
	o, _ := Parse("sendmail", []string{"-bs"})
	if err := Run(context.Background(), cfg, o, strings.NewReader("EHLO x\r\n"), brokenPipe{}, io.Discard, time.Now); err != cli.Exit(diag.ExIOErr) {
		t.Errorf("-bs on a broken pipe: %v", err)
	}
	subs := daemon(t, cfg, 0)
	if said, err := run([]string{"-v", "-f", "alice@example.test", "bob@example.org"}, "Subject: x\n\nhi\n"); err != nil || said != "sendmail: queued as Q1\n" {
		t.Errorf("with the daemon: %v, %q", err, said)
	}
	// The daemon takes both: the one left waiting too (at its scan).
	froms := map[string]bool{}
	for range 2 {
		s := <-subs
		froms[s.Env.From] = true
		if !strings.HasSuffix(s.Data, "\r\n\r\nhi\r\n") {
			t.Errorf("submitted %q", s.Data)
		}
	}
	if !froms["alice@example.test"] || len(froms) != 2 {
		t.Errorf("senders %v", froms)
	}
	// A message sendmail cannot take keeps its own code.
	_, err = run([]string{"-t"}, "Subject: no recipients\n\nhi\n")
	var ec interface{ ExitCode() int }
	if !errors.As(err, &ec) || ec.ExitCode() == diag.ExTempFail {
		t.Errorf("-t without recipients: %v", err)
	}
}
