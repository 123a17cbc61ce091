package queue

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/safeio"
)

// Receiver is the one hand-off of every receiver: the SMTP server
// (smtpd), the sendmail pickup, fetch, and ebb's own mail (DSNs, Sieve's
// outbox, reports, notices). It takes the envelope, the data and how this
// one message is received (opt), and returns the queue id once the
// message is durable. *Queue is one; the daemon's puts its checks in
// front of the queue (internal/daemon/receive.go).
type Receiver interface {
	Receive(ctx context.Context, env *Envelope, data io.Reader, opt ReceiveOptions) (queueID string, err error)
}

// Via names the receiver a message came through (ReceiveOptions.Via).
// The SMTP server's are its listener kinds (smtpd.Kind).
const (
	ViaInbound     = "inbound"     // SMTP, port 25
	ViaSubmission  = "submission"  // SMTP submission, port 587
	ViaSubmissions = "submissions" // SMTP submission over implicit TLS, port 465
	ViaPickup      = "pickup"      // sendmail, through the pickup
	ViaFetch       = "fetch"       // ebb fetch, from an IMAP or POP3 server
	ViaLocal       = ""            // ebb's own mail: DSNs, Sieve, reports, notices
)

// ReceiveOptions is how one message is received: facts about its arrival
// and the hooks that judge and trace it. They are given beside the
// envelope and never stored with it (the envelope is persisted data).
type ReceiveOptions struct {
	// Via names the receiver (ViaInbound, ..., ViaLocal): the daemon
	// chooses the checks by it.
	Via string
	// TLS: the message came over TLS (the SMTP session, or the fetch
	// connection); an input of the checks.
	TLS bool
	// PrefixFor, when set, makes the prefix from the queue id that Receive
	// assigns (and replaces Envelope.Prefix): the Received header can then
	// carry the queue id, as Postfix's does, so that a delivered message,
	// the log and mailq share one id.
	PrefixFor func(queueID string) string
	// Check, when set, judges the message once its data is in the spool
	// and before Receive returns (so before the 250): message
	// authentication, scanners. It reads m.File (one path for every
	// size; while a check runs the file holds the data alone, the
	// envelope is written after it) or m.OpenData. A non-nil error
	// refuses the message: the file is removed and the error is returned
	// (a *diag.Error carries the SMTP reply). The header text it returns
	// (complete lines ending in CRLF) is put in front of the prefix:
	// Authentication-Results, scan results.
	Check func(ctx context.Context, m *Message) (header string, err error)
	// Answers: the caller answers our trouble itself with a refusal it
	// logs and journals within its bound (the SMTP server: refusals of
	// one kind from one source share a ref and a record, smtpd/flood.go).
	// Receive then does not log it, and its not-queued event says
	// Answered, so that the journal writes no record under a ref no
	// client is given (it still drops what the check kept).
	Answers bool
}

// Receive streams data into the spool and queues it for env's recipients.
// It returns the queue id only after the message file (data, then
// envelope) and its directory entry are on disk (fsync, or syncfs), so
// that the caller may then reply 250 (or exit 0).
//
// The error is a *diag.Error. Trouble of ours (disk full, permissions) is
// temporary; ENOSPC and EDQUOT become 452 4.3.1 through diag's SMTPReply.
// When reading data fails, the error wraps the reader's error (errors.As
// finds, e.g., the SMTP server's "message too large" error).
func (q *Queue) Receive(ctx context.Context, env *Envelope, data io.Reader, opt ReceiveOptions) (string, error) {
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
		return "", q.receiveError(env, opt.Answers, "", "receive", "receive a message into", q.dir, err)
	}
	id := newID(q.now())
	path := q.msgPath(id)
	f, err := safeio.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", q.receiveError(env, opt.Answers, "", "create", "create a file in", q.dir, err)
	}
	ok, closed := false, false
	defer func() {
		if !ok {
			if !closed {
				f.Close()
			}
			os.Remove(path)
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
	// The fields naming the authors are kept for the sender check of a
	// logged-in user's message (the only one that reads them), while the
	// checks run.
	shown := shownFields{keepAuthors: env.AuthUser != ""}
	norm.Each = shown.see
	n, eight, err := copyData(f, norm, *bp)
	// RFC 6152: 8-bit data is what it is, declared BODY=8BITMIME or not
	// (a client, sendmail without -B, a DSN or a vacation reply of ours):
	// the relay declares it onward, or returns it to a server that takes
	// only 7 bits, instead of sending it raw.
	env.EightBit = eight
	bufpool.PutBytes(bp)
	bufpool.PutReader(br)
	if err != nil {
		var we *writeError
		if errors.As(err, &we) {
			return "", q.receiveError(env, opt.Answers, id, "write", "write", path, we.err)
		}
		e := diag.New("read", "read the message data", "", err)
		e.Component, e.Class = Component, diag.Temporary
		return "", e
	}
	q.own(path)

	m := &Message{
		ID:          id,
		Envelope:    *env,
		Size:        n,
		Arrived:     q.now().UTC(),
		File:        path,
		HiddenFrom:  hidden,
		MessageID:   shown.msgid,
		Subject:     shown.subject,
		Unshown:     shown.unshown,
		ContentType: shown.contentType,
		HeaderSeen:  true,

		DeliveredTo:     shown.deliveredTo,
		ManyDeliveredTo: shown.manyDeliveredTo,

		AuthorFields: shown.authors,
		AuthorsSeen:  shown.keepAuthors && !shown.manyAuthors,
	}
	m.Envelope.Recipients = append([]string(nil), env.Recipients...)
	if opt.Via == ViaInbound || opt.Via == ViaFetch {
		m.Envelope.External = true // a copy of it keeps the caller's (forward)
	}
	if opt.PrefixFor != nil {
		m.Envelope.Prefix = opt.PrefixFor(id)
	}
	if opt.Check != nil {
		// The file holds the data alone while the check reads it.
		hdr, err := opt.Check(ctx, m)
		if err != nil {
			return "", err // the deferred Remove drops the file
		}
		m.Envelope.Prefix = hdr + m.Envelope.Prefix
	}
	m.AuthorFields, m.AuthorsSeen = nil, false // for the checks only
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
		return "", q.receiveError(env, opt.Answers, id, "encode", "encode the envelope of", path, err)
	}
	// The envelope and the trailer in one write after the data: a file
	// that ends without the trailer is a receive that did not finish.
	if _, err := f.Write(appendTrailer(b, b)); err != nil {
		return "", q.receiveError(env, opt.Answers, id, "write", "write the envelope to", path, err)
	}
	// With queue.sync = "files" the file is fsynced here; with
	// "filesystem" (the default) the shared syncfs below writes it.
	closed = true
	if err := q.syncClose(f); err != nil {
		return "", q.receiveError(env, opt.Answers, id, err.Op, err.Op, path, err.Err)
	}
	// One flush makes the file and its name durable; concurrent
	// receivers share it (group commit). Nobody returns before a flush
	// that started after its own file was written.
	if err := q.dsync.Do(); err != nil {
		op := "fsync the directory"
		if q.set.syncfs {
			op = "syncfs the filesystem of"
		}
		return "", q.receiveError(env, opt.Answers, id, "fsync", op, q.dir, err)
	}
	ok = true

	// Told before it is scheduled: a delivery attempt (and its event)
	// can start the moment it is, and the story must begin with
	// "received" (ebb explain's first record was once "deferred").
	q.observe(Event{Kind: EvReceived, QueueID: id, Message: m})
	e := &entry{id: id, msg: m, hidx: -1, counts: m.counts()}
	q.mu.Lock()
	q.entries[id] = e
	q.stats.received++
	q.scheduleLocked(e, q.now())
	q.mu.Unlock()
	q.log.Info("queued", "queue_id", id, "from", m.Envelope.From, "rcpts", len(m.Recipients),
		"size", n, "client", env.ClientAddr, "session", env.SessionID)
	return id, nil
}

// shownFields keeps what later readers want of a message's header as it
// streams into the spool (mailhdr.Filter.Each), so that they need not open
// the file again: the Message-ID and Subject for the journal (the first
// of each in the first 64 KiB of fields, as a reader of the stored header
// bounded to 64 KiB, mailhdr.Read, would find them; one the header
// holds only further down is named in unshown, so that the journal says
// it was not read rather than absent), the last
// Content-Type, as the report intake reads it (reports.Intake.MayHold),
// and every Delivered-To, as the loop check reads them
// (deliver.LoopRefusal), up to MaxDeliveredTo. With keepAuthors, the
// fields that name an author (mailhdr.NamesAuthor), as the sender check
// reads them (policy.Senders.MayAuthorFields), up to MaxAuthorFields and
// maxAuthorBytes, each as the stored copy holds it: one longer than
// MaxField, or one the header ends in without a line end (the stored copy
// has one more), makes manyAuthors, and the check reads the file.
type shownFields struct {
	msgid, subject, contentType string
	deliveredTo                 []string
	manyDeliveredTo             bool
	read                        int
	msgidSeen                   bool
	subjectSeen                 bool
	unshown                     []string // Message-ID, Subject: only past the first 64 KiB

	keepAuthors, manyAuthors bool
	authors                  []mailhdr.Field
	authorBytes              int
}

// MaxAuthorFields bounds the fields naming an author a message carries in
// memory while its checks run (Message.AuthorFields); maxAuthorBytes
// bounds their size.
const (
	MaxAuthorFields = 50
	maxAuthorBytes  = 64 << 10
)

// maxShownFields bounds the header the Message-ID and Subject are taken
// from (shownFields).
const maxShownFields = 64 << 10

// MaxDeliveredTo bounds the Delivered-To values a message carries in
// memory (Message.DeliveredTo) while it is queued.
const MaxDeliveredTo = 50

func (s *shownFields) see(f mailhdr.Field) {
	if s.keepAuthors && !s.manyAuthors && mailhdr.NamesAuthor(f) {
		s.authorBytes += len(f.Raw)
		if f.Truncated || !bytes.HasSuffix(f.Raw, []byte("\n")) || len(s.authors) == MaxAuthorFields || s.authorBytes > maxAuthorBytes {
			s.authors, s.manyAuthors = nil, true
		} else {
			s.authors = append(s.authors, f.Clone())
		}
	}
	switch {
	case f.Is("Content-Type"):
		s.contentType = f.Value()
	case f.Is("Delivered-To") && !s.manyDeliveredTo:
		if len(s.deliveredTo) == MaxDeliveredTo {
			s.deliveredTo, s.manyDeliveredTo = nil, true
		} else {
			s.deliveredTo = append(s.deliveredTo, f.Value())
		}
	}
	if s.read += len(f.Raw); s.read > maxShownFields {
		for _, name := range []string{"Message-ID", "Subject"} {
			if f.Is(name) && !slices.Contains(s.unshown, name) &&
				(name == "Message-ID" && !s.msgidSeen || name == "Subject" && !s.subjectSeen) {
				s.unshown = append(s.unshown, name)
			}
		}
		return
	}
	switch {
	case !s.msgidSeen && f.Is("Message-Id"):
		s.msgid, s.msgidSeen = f.Value(), true
	case !s.subjectSeen && f.Is("Subject"):
		s.subject, s.subjectSeen = f.Value(), true
	}
}

// syncClose fsyncs f (unless syncfs covers it: queue.sync =
// "filesystem") and closes it, returning the operation that failed.
func (q *Queue) syncClose(f *os.File) *os.PathError {
	if !q.set.syncfs {
		if err := f.Sync(); err != nil {
			f.Close()
			return &os.PathError{Op: "fsync", Path: f.Name(), Err: diag.UnwrapPath(err)}
		}
	}
	if err := f.Close(); err != nil {
		return &os.PathError{Op: "close", Path: f.Name(), Err: diag.UnwrapPath(err)}
	}
	return nil
}

// receiveError is the boundary error for trouble writing the spool. id is
// the queue id the message was given ("" before one): its event says it,
// so that what its check (ReceiveOptions.Check) kept for it is dropped.
// answered is ReceiveOptions.Answers.
func (q *Queue) receiveError(env *Envelope, answered bool, id, op, doing, path string, err error) *diag.Error {
	e := diag.PathError(Component, op, doing, path, err, q.cfg.Setting("queue.spool"))
	e.Class = diag.Temporary
	e.EnsureRef()
	if !answered {
		q.log.Error("cannot queue a message", "ref", e.Ref, "err", e)
	}
	// Before a queue id: the journal keeps it by its ref (ebb explain
	// REF), or by the ref of the caller's refusal (Answers).
	q.observe(Event{Kind: EvNotQueued, QueueID: id, Error: e, Envelope: env, Answered: answered})
	return e
}

// writeError marks a failure on the writing side of copyData.
type writeError struct{ err error }

func (w *writeError) Error() string { return w.err.Error() }
func (w *writeError) Unwrap() error { return w.err }

// copyData is io.CopyBuffer that tells write errors (ours) from read errors
// (the client's), and gathers small reads into one write: the header comes
// a field per read (mailhdr.Filter), and a write(2) per field was six for
// a 1 KiB message where one does. It gathers only up to writeAtLeast, not
// a whole buffer: a read into the whole of buf lets the pooled reader
// under the filter read into it directly, where a read into what is left
// of it would copy every octet of a large message once more.
func copyData(dst io.Writer, src io.Reader, buf []byte) (n int64, eight bool, err error) {
	for {
		nr := 0
		var rerr error
		for nr < min(writeAtLeast, len(buf)) && rerr == nil {
			var k int
			k, rerr = src.Read(buf[nr:])
			nr += k
		}
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

// writeAtLeast is what copyData gathers before it writes, unless the data
// ends first.
const writeAtLeast = 16 << 10

// hasEightBit reports a byte with the high bit set in p, 32 bytes at a
// time (four words OR-ed, one test: a third of the time of a test per
// word at 64 KiB), then eight: the data is looked at once, as it is
// spooled, so that no later part has to read the file again to know it.
func hasEightBit(p []byte) bool {
	const high = 0x8080808080808080
	for len(p) >= 32 {
		if (binary.LittleEndian.Uint64(p)|binary.LittleEndian.Uint64(p[8:])|
			binary.LittleEndian.Uint64(p[16:])|binary.LittleEndian.Uint64(p[24:]))&high != 0 {
			return true
		}
		p = p[32:]
	}
	for len(p) >= 8 {
		if binary.LittleEndian.Uint64(p)&high != 0 {
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

// writeEnvelope durably replaces an envelope file (<id>.state, after an
// attempt, hold, flush...).
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
	return &fsFlusher{g: q.fs, dir: q.dir}
}

// fsFlusher flushes the spool's filesystem, bound on the first flush
// (safeio.Bound: no stat of the directory per message).
type fsFlusher struct {
	g     *safeio.FSGroup
	dir   string
	bound atomic.Pointer[safeio.Bound]
}

func (f *fsFlusher) Do() error {
	b := f.bound.Load()
	if b == nil {
		nb, err := f.g.Bind(f.dir)
		if err != nil {
			return err
		}
		b = &nb
		f.bound.Store(b)
	}
	return b.Sync()
}

func (f *fsFlusher) Flushes() uint64 { return f.g.Flushes() }

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
