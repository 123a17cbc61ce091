package sendmail

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/pickup"
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
	cfg := testConfig(t)
	cfg.Server.Hostname = "mx.example.org"
	subs := daemon(t, cfg, 0)

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
	res, err := Submit(context.Background(), pickup.DropFor(cfg), m, o, now)
	if err != nil || res.QueueID != "Q1" {
		t.Fatalf("Submit = %+v, %v", res, err)
	}
	s := <-subs
	if s.Env.From != "alice@example.org" || strings.Join(s.Env.Recipients, ",") != "bob@example.org" ||
		strings.Join(s.Env.RcptDSN["bob@example.org"].Notify, ",") != "FAILURE,DELAY" || s.Env.Ret != "HDRS" || s.Env.EnvID != "env-1" {
		t.Errorf("envelope %+v", s.Env)
	}
	if !strings.Contains(s.Data, "Subject: hi\r\n") || !strings.HasSuffix(s.Data, "\r\n\r\nbody\r\n") || !strings.Contains(s.Data, "Message-ID:") {
		t.Errorf("data %q", s.Data)
	}
}
