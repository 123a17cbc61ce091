package sendmail

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/pickup"
	"github.com/ebbmail/ebb/internal/pickupd"
	"github.com/ebbmail/ebb/internal/queue"
)

// queueFunc is a queue.Receiver made of a function.
type queueFunc func(ctx context.Context, env *queue.Envelope, data io.Reader, opt queue.ReceiveOptions) (string, error)

func (f queueFunc) Receive(ctx context.Context, env *queue.Envelope, data io.Reader, opt queue.ReceiveOptions) (string, error) {
	return f(ctx, env, data, opt)
}

// What sendmail is given reaches the daemon's queue: the envelope, the
// DSN options (-N, -R, -V as NOTIFY, RET, ENVID) and the fixed-up message.
func TestSubmitHandsTheMessageToTheDaemon(t *testing.T) {
	dir := t.TempDir()
	type got struct {
		env  queue.Envelope
		data string
	}
	subs := make(chan got, 1)
	r := &pickupd.Receiver{Dir: dir, UID: -1, GID: -1, Interval: time.Hour, Hostname: "mx.example.org",
		Queue: queueFunc(func(ctx context.Context, env *queue.Envelope, data io.Reader, opt queue.ReceiveOptions) (string, error) {
			b, err := io.ReadAll(data)
			subs <- got{*env, string(b)}
			return "Q1", err
		})}
	if err := r.Bind(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	o, err := Parse("sendmail", []string{"-t", "-i", "-f", "alice@example.org", "-N", "failure,delay", "-R", "hdrs", "-V", "env-1"})
	if err != nil {
		t.Fatal(err)
	}
	msg := "To: bob@example.org\nSubject: hi\n\nbody\n"
	m, err := Prepare(o, strings.NewReader(msg), Caller{Login: "alice", Domain: "example.org", Hostname: "mx.example.org"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.FixedZone("X", 3600))
	res, err := Submit(context.Background(), &pickup.Drop{Dir: dir, Timeout: 30 * time.Second}, m, o, now)
	if err != nil || res.QueueID != "Q1" {
		t.Fatalf("Submit = %+v, %v", res, err)
	}
	s := <-subs
	if s.env.From != "alice@example.org" || strings.Join(s.env.Recipients, ",") != "bob@example.org" ||
		strings.Join(s.env.RcptDSN["bob@example.org"].Notify, ",") != "FAILURE,DELAY" || s.env.Ret != "HDRS" || s.env.EnvID != "env-1" {
		t.Errorf("envelope %+v", s.env)
	}
	if !strings.Contains(s.data, "Subject: hi\r\n") || !strings.HasSuffix(s.data, "\r\n\r\nbody\r\n") || !strings.Contains(s.data, "Message-ID:") {
		t.Errorf("data %q", s.data)
	}
}
