package queue

import (
	"testing"
	"time"
)

// flush --domain retries only the messages waiting for that domain, and
// asks the remote transport to lift its suspension first.
func TestFlushDomain(t *testing.T) {
	q := openQueue(t, slowRetryConfig(t))
	rec := newRecorder()
	deferAll(rec)
	var resumed []string
	run(t, q, Transports{Local: rec, Resume: func(d string) int { resumed = append(resumed, d); return 1 }})
	a := receive(t, q, "x@example.org", "Subject: a\r\n\r\na\r\n", "bob@dead.example")
	b := receive(t, q, "x@example.org", "Subject: b\r\n\r\nb\r\n", "carol@live.example")
	eventually(t, "first attempts", func() bool {
		return rec.count("bob@dead.example") == 1 && rec.count("carol@live.example") == 1
	})
	rec.setOutcome(nil)
	res, err := q.FlushDomain("Dead.Example.")
	if err != nil || len(res) != 1 || res[0].ID != a {
		t.Fatalf("FlushDomain: %+v %v", res, err)
	}
	// A flush makes a recipient due at once, in memory: carol's is still
	// waiting for its retry time, so no round will try her now.
	if m, ok := q.Lookup(b); !ok || m.Recipients[0].State != Deferred || !m.Recipients[0].Next.After(time.Now()) {
		t.Errorf("carol (another domain) was flushed: %+v", m)
	}
	eventually(t, "bob retried", func() bool { return rec.count("bob@dead.example") == 2 })
	if n := rec.count("carol@live.example"); n != 1 {
		t.Errorf("carol (another domain) was retried: %d attempts", n)
	}
	if len(resumed) != 1 || resumed[0] != "dead.example" {
		t.Errorf("Resume got %q", resumed)
	}
}
