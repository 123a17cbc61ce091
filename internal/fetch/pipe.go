package fetch

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
)

// pipeDepth is how many messages of a pass may be on their way into the
// queue at once: read from the server, their flush still running.
const pipeDepth = 8

// pipe lets a pass read the next message from the server while the
// messages before it are made durable in the queue. Each message is still
// streamed once, by one reader, in the server's order: the pass waits
// until take has read a message to its end (or stopped reading it) before
// it reads on, and only then does the queue's flush run beside the next
// read. Concurrent flushes are one (the queue's group commit), as for
// concurrent SMTP sessions: one message at a time, a pass waited for a
// flush per message (bench/fetch: ebb at 0.85 of a core).
//
// What take did is recorded in the messages' order, by the pass's own
// goroutine (afterTake: queued, skipped, or left on the server), and only
// once take has returned: a message is recorded as queued only when it is
// durable there, so nothing is deleted on the server before. A pass that
// stops (an error, the server's trouble, a cancelled context) first waits
// for every message on its way and records each, so none is forgotten
// (it would be fetched, and delivered, twice). A crash can leave up to
// pipeDepth messages durable in the queue and not yet recorded as queued:
// each has a pending row, written before the queue's flush
// (recordPending), which the next pass settles by asking the queue
// (settlePending), so none is fetched again.
type pipe struct {
	f       *Fetcher
	ctx     context.Context
	s       *stepper
	pending []*inflight
	err     error // the first error of afterTake: the pass stops
}

type inflight struct {
	o     origin
	done  chan struct{} // take returned
	tk    taken
	t     *tap
	err   error
	ok    func() // run when the message is recorded either way
	panic any    // take panicked (a bug): raised again in the pass
	stack []byte
}

func (f *Fetcher) newPipe(ctx context.Context, s *stepper) *pipe {
	return &pipe{f: f, ctx: ctx, s: s}
}

// take starts one message into the queue and returns once body is read
// to its end or no longer read (so the caller may read on), with the error
// that stops the pass, if any (of this message or one before). ok is run
// when the message is recorded, queued or skipped.
func (p *pipe) take(o origin, body io.Reader, want int64, ok func()) error {
	if p.err != nil {
		return p.err
	}
	in := &inflight{o: o, done: make(chan struct{}), ok: ok}
	r := &endReader{r: &kickReader{r: body, dog: p.s.dog}, end: make(chan struct{}), want: want}
	go func() {
		defer close(in.done)
		defer r.stop()
		defer func() {
			// A panic here would end ebb serve: it is raised again in
			// the pass, whose session turns it into the account's
			// failure (Fetcher.session), as before there was a pipe.
			if v := recover(); v != nil {
				in.panic, in.stack = v, debug.Stack()
			}
		}()
		in.tk, in.t, in.err = p.f.take(p.ctx, o, r, want)
	}()
	select {
	case <-r.end:
	case <-in.done:
	}
	p.pending = append(p.pending, in)
	if r.failed() {
		// The server's side failed mid-message: before anything reads on
		// (the connection is aborted in afterTake), everything on its way
		// is recorded.
		return p.finish()
	}
	// From here on the pass waits for ebb's own work (the queue's flush,
	// the records), not for the server: fetch.timeout is not counting.
	p.s.dog.pause()
	defer p.s.dog.resume()
	for len(p.pending) > 0 && p.err == nil {
		select {
		case <-p.pending[0].done:
		default:
			if len(p.pending) < pipeDepth {
				return nil
			}
			<-p.pending[0].done
		}
		p.record()
	}
	return p.err
}

// record records the oldest message on its way, which take has finished.
func (p *pipe) record() {
	in := p.pending[0]
	p.pending = p.pending[1:]
	if in.panic != nil {
		panic(fmt.Sprintf("%v (taking %s into the queue; there: %s)", in.panic, in.o.name(), in.stack))
	}
	ok, err := p.f.afterTake(p.ctx, in.o, in.tk, in.t, in.err, p.s)
	if ok && in.ok != nil {
		in.ok()
	}
	if err != nil && p.err == nil {
		p.err = err
	}
}

// finish waits for every message on its way and records each, in order;
// it returns the first error that stops the pass. A pass calls it before
// it uses what was recorded, and on every way out.
func (p *pipe) finish() error {
	// ebb's own work, as in take: fetch.timeout is not counting.
	p.s.dog.pause()
	defer p.s.dog.resume()
	for len(p.pending) > 0 {
		<-p.pending[0].done
		p.record()
	}
	// The pending rows of what the queue took are recorded as queued
	// before anything reads them so (settle, the position, the after-
	// actions).
	if err := p.f.markQueued(p.ctx, p.s); err != nil && p.err == nil {
		p.err = err
	}
	return p.err
}

// endReader tells when its reader has given its last byte (EOF or an
// error), or when its user stopped reading it (stop); after that it
// gives that error again and never reads the stream.
type endReader struct {
	r    io.Reader
	end  chan struct{}
	once sync.Once
	want int64 // the size the server announced, -1: none
	mu   sync.Mutex
	n    int64
	err  error
}

// Read never reads the stream again once it ended: the pass reads on from
// the same connection meanwhile.
func (e *endReader) Read(b []byte) (int, error) {
	e.mu.Lock()
	if err := e.err; err != nil {
		e.mu.Unlock()
		return 0, err
	}
	e.mu.Unlock()
	n, err := e.r.Read(b)
	e.mu.Lock()
	e.n += int64(n)
	e.mu.Unlock()
	if err != nil {
		e.mu.Lock()
		e.err = err
		e.mu.Unlock()
		e.stop()
	}
	return n, err
}

func (e *endReader) stop() { e.once.Do(func() { close(e.end) }) }

// failed reports a read that ended in an error other than EOF, or at an
// EOF short of the size the server announced (go-imap ends a literal cut
// short by a closed connection so): the server's trouble.
func (e *endReader) failed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return (e.err != nil && e.err != io.EOF) || (e.err == io.EOF && e.want >= 0 && e.n != e.want)
}
