package queue

import (
	"sync"
	"testing"
)

// A message's story begins with "received": the queue tells its observer
// before the message can be scheduled, so no delivery event of it comes
// first (ebb explain's first record was once "deferred", when a worker
// picked the message up between the scheduling and the event).
func TestReceivedIsObservedBeforeAnyAttempt(t *testing.T) {
	q := openQueue(t, testConfig(t))
	rec := newRecorder()
	var mu sync.Mutex
	first := map[string]EventKind{}
	delivered := 0
	q.SetObserver(func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := first[e.QueueID]; !ok {
			first[e.QueueID] = e.Kind
		}
		if e.Kind == EvDelivered {
			delivered++
		}
	})
	run(t, q, Transports{Local: rec})
	const n = 100
	for i := 0; i < n; i++ {
		receive(t, q, "alice@example.org", "Subject: hi\r\n\r\nhello\r\n", "bob@example.test")
	}
	for i := 0; i < n; i++ {
		rec.wait(t)
	}
	eventually(t, "every delivery observed", func() bool { mu.Lock(); defer mu.Unlock(); return delivered == n })
	mu.Lock()
	defer mu.Unlock()
	for id, k := range first {
		if k != EvReceived {
			t.Errorf("%s: the first event is %s, not received", id, k)
		}
	}
}
