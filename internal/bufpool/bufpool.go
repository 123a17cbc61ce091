// Package bufpool lends the 64 KiB buffers that a message streams through
// (spool → Maildir, network → spool), so that each message does not
// allocate its own. At 50 concurrent 1 KiB messages the allocations of
// those buffers (five per delivery) were most of ebb serve's heap churn
// and the garbage collector a fifth of its CPU.
//
// A buffer or reader is returned with Put when its user is done with it;
// one that is never returned is only garbage. Nothing may keep a reference
// after Put.
package bufpool

import (
	"bufio"
	"io"
	"sync"
)

// Size is the size of every buffer and reader buffer lent here.
const Size = 64 << 10

var (
	bytesPool  = sync.Pool{New: func() any { b := make([]byte, Size); return &b }}
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, Size) }}
)

// Bytes lends a buffer of Size bytes.
func Bytes() *[]byte { return bytesPool.Get().(*[]byte) }

// PutBytes returns a buffer from Bytes.
func PutBytes(b *[]byte) {
	if b != nil && cap(*b) >= Size {
		*b = (*b)[:Size]
		bytesPool.Put(b)
	}
}

// Reader lends a bufio.Reader of Size bytes reading r.
func Reader(r io.Reader) *bufio.Reader {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

// PutReader returns a reader from Reader; it forgets its source so that
// the pool does not keep a file or connection reachable.
func PutReader(br *bufio.Reader) {
	if br == nil || br.Size() < Size {
		return
	}
	br.Reset(nil)
	readerPool.Put(br)
}
