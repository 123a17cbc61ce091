package queue

import (
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

// EventKind is what happened to a queued message.
type EventKind string

const (
	EvReceived  EventKind = "received"   // queued (Event.Message is the message as queued)
	EvDelivered EventKind = "delivered"  // one recipient delivered
	EvDeferred  EventKind = "deferred"   // one recipient failed temporarily (Error, Next)
	EvFailed    EventKind = "failed"     // one recipient failed permanently (Error)
	EvExpired   EventKind = "expired"    // one recipient given up at queue.lifetime (Error)
	EvDSN       EventKind = "dsn"        // a DSN was queued for the sender (DSNID, Note: its kind)
	EvRemoved   EventKind = "removed"    // the message left the queue (Note: done, or deleted by the operator)
	EvOperation EventKind = "operation"  // hold, release, flush, requeue by the operator (Note)
	EvNotQueued EventKind = "not-queued" // our trouble kept a message out of the queue (Error, with its Ref; Envelope; QueueID: the id it had been given, if any, which no other event names: what its check kept for it can be dropped)
)

// Event is one thing that happened to a queued message: what the journal
// keeps (internal/journal), so that `ebb explain` can tell a message's
// story after it has left the queue.
type Event struct {
	Time      time.Time
	Kind      EventKind
	QueueID   string
	Message   *Message  // EvReceived only; read it during the call, do not keep it
	Envelope  *Envelope // EvNotQueued only: what was offered
	Recipient string
	Route     string // local, remote
	Attempt   int
	Duration  time.Duration
	Next      time.Time   // EvDeferred: the next attempt
	Error     *diag.Error // EvDeferred, EvFailed, EvExpired
	DSNID     string      // EvDSN: the queue id of the DSN
	Note      string
	// Session is the envelope's SessionID on the events of an attempt, an
	// expiry and an operator's removal: fetched mail ("fetch:ACCOUNT")
	// learns its outcome from it (internal/daemon/fetch.go).
	Session string
	// Handoff is where the remote transport handed a delivered recipient
	// (EvDelivered of a relayed one): the next hop and its reply.
	Handoff *Handoff
	// Answered (EvNotQueued): the receiver answers for this trouble with
	// a refusal it journals itself (ReceiveOptions.Answers): no record.
	Answered bool
}

// Observer receives the queue's events as they happen, synchronously,
// from the goroutine that made them: it must be quick (append to a file)
// and must not call back into the queue.
type Observer func(Event)

// AddObserver adds o after the observer already set; call it before Run.
func (q *Queue) AddObserver(o Observer) {
	p := q.observer.Load()
	if p == nil {
		q.SetObserver(o)
		return
	}
	first := *p
	q.SetObserver(func(e Event) {
		first(e)
		o(e)
	})
}

// SetObserver sets the observer; call it before Run. nil turns it off.
func (q *Queue) SetObserver(o Observer) {
	if o == nil {
		q.observer.Store(nil)
		return
	}
	q.observer.Store(&o)
}

func (q *Queue) observe(e Event) {
	p := q.observer.Load()
	if p == nil {
		return
	}
	o := *p
	if e.Time.IsZero() {
		e.Time = q.now().UTC()
	}
	o(e)
}
