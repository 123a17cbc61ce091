package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// batchRecorder is a BatchTransport that records its calls and fails the
// addresses that start with "temp".
type batchRecorder struct {
	mu    sync.Mutex
	calls [][]string
}

func (b *batchRecorder) Deliver(ctx context.Context, m *Message, r *Recipient) error {
	return b.DeliverBatch(ctx, m, []*Recipient{r})[0]
}

func (b *batchRecorder) DeliverBatch(ctx context.Context, m *Message, rs []*Recipient) []error {
	var call []string
	errs := make([]error, len(rs))
	for i, r := range rs {
		call = append(call, r.Address)
		if strings.HasPrefix(r.Address, "temp") {
			errs[i] = tempError("later")
		} else {
			r.Relay = &Handoff{Host: "mx.test"}
		}
	}
	b.mu.Lock()
	b.calls = append(b.calls, call)
	b.mu.Unlock()
	return errs
}

// The remote recipients of a message reach a BatchTransport in one call;
// local ones go one by one to the local transport; each gets its own
// outcome and the handoff is kept.
func TestBatchTransportGetsAllRemoteRecipients(t *testing.T) {
	q := openQueue(t, slowRetryConfig(t))
	rec := newRecorder()
	bt := &batchRecorder{}
	run(t, q, Transports{Local: rec, Remote: bt, Route: func(ctx context.Context, rcpt string) (Route, error) {
		if strings.HasSuffix(rcpt, "@example.test") {
			return Local, nil
		}
		return Remote, nil
	}})
	id := receive(t, q, "a@example.org", "Subject: x\r\n\r\nx\r\n", "bob@example.test", "x@remote.example", "temp@remote.example", "y@other.example")
	rec.wait(t)
	eventually(t, "attempted", func() bool {
		m, ok := q.Lookup(id)
		return ok && m.Recipients[3].Attempts == 1
	})
	bt.mu.Lock()
	calls := bt.calls
	bt.mu.Unlock()
	if len(calls) != 1 || strings.Join(calls[0], ",") != "x@remote.example,temp@remote.example,y@other.example" {
		t.Fatalf("calls %q", calls)
	}
	m, _ := q.Lookup(id)
	for _, r := range m.Recipients {
		want := Delivered
		if strings.HasPrefix(r.Address, "temp") {
			want = Deferred
		}
		if r.State != want {
			t.Errorf("%s: %s, want %s", r.Address, r.State, want)
		}
		if r.Address == "x@remote.example" && (r.Relay == nil || r.Relay.Host != "mx.test") {
			t.Errorf("handoff not kept: %+v", r.Relay)
		}
	}
}
