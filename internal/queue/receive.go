package queue

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/safeio"
)

// Receive streams data into the spool and queues it for env's recipients.
// It returns the queue id only after the data file, the envelope and the
// directory entries of both are on disk (fsync), so that the caller may
// then reply 250 (or exit 0).
//
// The error is a *diag.Error. Trouble of ours (disk full, permissions) is
// temporary; ENOSPC and EDQUOT become 452 4.3.1 through diag's SMTPReply.
// When reading data fails, the error wraps the reader's error (errors.As
// finds, e.g., the SMTP server's "message too large" error).
func (q *Queue) Receive(ctx context.Context, env *Envelope, data io.Reader) (string, error) {
	if len(env.Recipients) == 0 {
		e := diag.New("receive", "queue a message without recipients", "", errors.New("no recipients"))
		e.Component, e.Class = Component, diag.Permanent
		e.SMTPCode, e.Enhanced, e.Public = 554, [3]int{5, 5, 1}, "No valid recipients"
		return "", e
	}
	if e := checkSender(env.From); e != nil {
		return "", e
	}
	if e := checkRecipients(env.Recipients); e != nil {
		return "", e
	}
	if err := ctx.Err(); err != nil {
		return "", q.receiveError(env, "receive", "receive a message into", q.dir, err)
	}
	id := newID(q.now())
	dataPath := q.dataPath(id)
	f, err := os.OpenFile(dataPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", q.receiveError(env, "create", "create a file in", q.dir, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.Remove(dataPath)
		}
	}()
	// One buffer (bufpool) for any message size: memory stays flat. The
	// message is stored as mailhdr reads it (Normalise: the empty line a
	// header lacks is written), so that every later reader, here and at
	// the next hop, finds its header where ebb's checks found it.
	bp, br := bufpool.Bytes(), bufpool.Reader(data)
	norm := mailhdr.Normalise(br)
	var hidden []string
	norm.Below = func(fl mailhdr.Field) {
		if v, ok := mailhdr.HiddenFrom(fl); ok && len(hidden) <= mailhdr.MaxAuthorDomains {
			hidden = append(hidden, v) // one more than judged: the check says so
		}
	}
	n, eight, err := copyData(f, norm, *bp)
	// RFC 6152: 8-bit data is what it is, declared BODY=8BITMIME or not
	// (a client, sendmail without -B, a DSN or a vacation reply of ours):
	// the relay declares it onward, or returns it to a server that takes
	// only 7 bits, instead of sending it raw.
	env.EightBit = eight
	bufpool.PutBytes(bp)
	bufpool.PutReader(br)
	if err != nil {
		f.Close()
		var we *writeError
		if errors.As(err, &we) {
			return "", q.receiveError(env, "write", "write", dataPath, we.err)
		}
		e := diag.New("read", "read the message data", "", err)
		e.Component, e.Class = Component, diag.Temporary
		return "", e
	}
	// With queue.sync = "files" the data file's fsync runs while the
	// checks read the file and the envelope is written: the two waits for
	// the disk overlap instead of adding up (one session's latency), and
	// concurrent fsyncs share the filesystem's journal commits. Nothing
	// is acknowledged before it (and the envelope's) returned.
	dataSynced := q.syncClose(f)
	defer func() {
		if !ok {
			dataSynced() // the file is closed before it is removed
		}
	}()
	q.own(dataPath)

	m := &Message{
		ID:         id,
		Envelope:   *env,
		Size:       n,
		Arrived:    q.now().UTC(),
		DataPath:   dataPath,
		HiddenFrom: hidden,
	}
	m.Envelope.Recipients = append([]string(nil), env.Recipients...)
	if env.PrefixFor != nil {
		m.Envelope.Prefix = env.PrefixFor(id)
		m.Envelope.PrefixFor = nil
	}
	if env.Check != nil {
		m.Envelope.Check = nil
		hdr, err := env.Check(ctx, m)
		if err != nil {
			return "", err // the deferred Remove drops the data file
		}
		m.Envelope.Prefix = hdr + m.Envelope.Prefix
	}
	seen := map[string]bool{}
	for _, r := range env.Recipients {
		if seen[r] {
			continue // RFC 5321 §3.3: one copy per recipient
		}
		seen[r] = true
		m.Recipients = append(m.Recipients, &Recipient{Address: r, State: Pending})
	}
	b, err := encodeMessage(m)
	if err != nil {
		return "", q.receiveError(env, "encode", "encode the envelope of", dataPath, err)
	}
	envPath := q.envPath(id)
	if err := writeFileNoSync(envPath, b, !q.set.syncfs); err != nil {
		return "", q.receiveError(env, "write", "write the envelope", envPath, err)
	}
	q.own(envPath)
	if err := dataSynced(); err != nil {
		os.Remove(envPath)
		return "", q.receiveError(env, err.Op, err.Op, dataPath, err.Err)
	}
	// One flush makes both files and their names durable; concurrent
	// receivers share it (group commit). Nobody returns before a flush
	// that started after its own files were written.
	if err := q.dsync.Do(); err != nil {
		os.Remove(envPath)
		op := "fsync the directory"
		if q.set.syncfs {
			op = "syncfs the filesystem of"
		}
		return "", q.receiveError(env, "fsync", op, q.dir, err)
	}
	ok = true

	e := &entry{id: id, msg: m, hidx: -1, counts: m.counts()}
	q.mu.Lock()
	q.entries[id] = e
	q.stats.received++
	q.scheduleLocked(e, q.now())
	q.mu.Unlock()
	q.observe(Event{Kind: EvReceived, QueueID: id, Message: m})
	q.log.Info("queued", "queue_id", id, "from", m.Envelope.From, "rcpts", len(m.Recipients),
		"size", n, "client", env.ClientAddr, "session", env.SessionID)
	return id, nil
}

// syncClose fsyncs (unless syncfs covers it) and closes f; the returned
// function waits for both and returns the first error, with the operation
// that failed. Calls after the first return the same result. Only the
// fsync is worth a goroutine: with queue.sync = "filesystem" (the
// default) the file is just closed, here, with no goroutine per message.
func (q *Queue) syncClose(f *os.File) func() *os.PathError {
	closeFile := func() *os.PathError {
		if err := f.Close(); err != nil {
			return &os.PathError{Op: "close", Path: f.Name(), Err: diag.UnwrapPath(err)}
		}
		return nil
	}
	if q.set.syncfs {
		res := closeFile()
		return func() *os.PathError { return res }
	}
	done := make(chan *os.PathError, 1)
	go func() {
		if err := f.Sync(); err != nil {
			f.Close()
			done <- &os.PathError{Op: "fsync", Path: f.Name(), Err: diag.UnwrapPath(err)}
			return
		}
		done <- closeFile()
	}()
	var once sync.Once
	var res *os.PathError
	return func() *os.PathError {
		once.Do(func() { res = <-done })
		return res
	}
}

// receiveError is the boundary error for trouble writing the spool.
func (q *Queue) receiveError(env *Envelope, op, doing, path string, err error) *diag.Error {
	e := diag.PathError(Component, op, doing, path, err, q.cfg.Setting("queue.spool"))
	e.Class = diag.Temporary
	e.EnsureRef()
	q.log.Error("cannot queue a message", "ref", e.Ref, "err", e)
	// Before a queue id: the journal keeps it by its ref (ebb explain REF).
	q.observe(Event{Kind: EvNotQueued, Error: e, Envelope: env})
	return e
}

// writeError marks a failure on the writing side of copyData.
type writeError struct{ err error }

func (w *writeError) Error() string { return w.err.Error() }
func (w *writeError) Unwrap() error { return w.err }

// copyData is io.CopyBuffer that tells write errors (ours) from read errors
// (the client's).
func copyData(dst io.Writer, src io.Reader, buf []byte) (n int64, eight bool, err error) {
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			eight = eight || hasEightBit(buf[:nr])
			nw, werr := dst.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, eight, &writeError{werr}
			}
			if nw != nr {
				return n, eight, &writeError{io.ErrShortWrite}
			}
		}
		if rerr == io.EOF {
			return n, eight, nil
		}
		if rerr != nil {
			return n, eight, rerr
		}
	}
}

// hasEightBit reports a byte with the high bit set in p, eight bytes at a
// time: the data is looked at once, as it is spooled, so that no later
// part has to read the file again to know it.
func hasEightBit(p []byte) bool {
	for len(p) >= 8 {
		if binary.LittleEndian.Uint64(p)&0x8080808080808080 != 0 {
			return true
		}
		p = p[8:]
	}
	for _, b := range p {
		if b >= 0x80 {
			return true
		}
	}
	return false
}

// writeFileNoSync writes path through a temporary name (fsynced when
// fsync is set) and renames it into place; the caller makes the result
// durable (group commit: a directory fsync, or syncfs).
func writeFileNoSync(path string, data []byte, fsync bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if fsync {
		if err := f.Sync(); err != nil {
			f.Close()
			os.Remove(tmp)
			return &os.PathError{Op: "fsync", Path: tmp, Err: err}
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeEnvelope durably replaces an envelope file (after an attempt, hold,
// flush...).
func writeEnvelope(path string, data []byte) error {
	return safeio.WriteFile(path, data, 0o600)
}

// flusher is the spool's group commit (safeio.Group, or a filesystem's
// syncfs group bound to the spool directory).
type flusher interface {
	Do() error
	Flushes() uint64
}

// newDirSync is the spool's group commit: one flush for the receivers
// waiting at that moment. With queue.sync = "files" it is an fsync of the
// directory (the files were fsynced each); with "filesystem" a syncfs(2)
// of its filesystem, which also writes the files' data, shared with every
// other user of q.fs (the delivery workers' Maildir writes on the same
// filesystem: SharedFlush).
func (q *Queue) newDirSync() flusher {
	if !q.set.syncfs {
		dir := q.dir
		return &safeio.Group{Flush: func() error { return safeio.SyncDir(dir) }}
	}
	q.fs = &safeio.FSGroup{}
	return fsFlusher{q.fs, q.dir}
}

type fsFlusher struct {
	g   *safeio.FSGroup
	dir string
}

func (f fsFlusher) Do() error       { return f.g.Sync(f.dir) }
func (f fsFlusher) Flushes() uint64 { return f.g.Flushes() }

// SharedFlush is the syncfs group commit the spool uses with queue.sync =
// "filesystem", for a delivery in the same process to make its own files
// durable in the same flushes (nil with queue.sync = "files": then each
// fsyncs its own).
func (q *Queue) SharedFlush() *safeio.FSGroup { return q.fs }

// newID makes a queue id: the arrival time in microseconds (base 36, so ids
// sort by age) and 5 random characters, upper case.
func newID(now time.Time) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var r [5]byte
	rand.Read(r[:])
	var b strings.Builder
	b.WriteString(strings.ToUpper(strconv.FormatInt(now.UnixMicro(), 36)))
	for _, c := range r {
		b.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return b.String()
}
