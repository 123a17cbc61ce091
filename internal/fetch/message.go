package fetch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/fetchstate"
	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/queue"
)

// origin is where one message comes from.
type origin struct {
	a           *fetchstate.FetchAccount
	proto       string // IMAP, IMAPS, POP3, POP3S (the Received "with")
	folder      string
	uidvalidity uint32
	uid         string
}

func (o origin) fetched(m fetchstate.FetchedMessage) fetchstate.FetchedMessage {
	m.Folder, m.UIDValidity, m.UID = o.folder, o.uidvalidity, o.uid
	return m
}

// name is how a message is named in a failure: "message 7 of INBOX".
func (o origin) name() string {
	if o.proto == "POP3" || o.proto == "POP3S" {
		return "message " + o.uid + " (UIDL)"
	}
	return "message " + o.uid + " of folder " + o.folder
}

// maxHeaderTap bounds how much of a message's header is kept to read
// its summary from while it streams (memory stays flat).
const maxHeaderTap = 64 << 10

// tap passes a message through to the queue while it counts the bytes,
// hashes them (the message's identity), keeps the start of the header,
// stops at the size limit, and remembers a read error of the server's
// side (so that it is not taken for trouble of ours).
type tap struct {
	r       io.Reader
	n       int64
	max     int64 // 0: no limit
	want    int64 // the size the server announced (an IMAP literal's), -1: none
	sum     hash.Hash
	head    []byte
	headEnd bool
	readErr error
	tooBig  bool
	eof     bool // read whole: the digest, size and summary are final
}

// errTooBig ends a message's stream at the size limit.
var errTooBig = errors.New("the message is larger than the limit")

func newTap(r io.Reader, max, want int64) *tap {
	return &tap{r: r, max: max, want: want, sum: sha256.New()}
}

func (t *tap) Read(p []byte) (int, error) {
	if t.max > 0 && t.n+int64(len(p)) > t.max+1 {
		p = p[:t.max+1-t.n]
	}
	n, err := t.r.Read(p)
	t.n += int64(n)
	t.sum.Write(p[:n])
	if !t.headEnd && n > 0 {
		room := maxHeaderTap - len(t.head)
		chunk := p[:n]
		if len(chunk) > room {
			chunk = chunk[:room]
		}
		t.head = append(t.head, chunk...)
		if bytes.Contains(t.head, []byte("\r\n\r\n")) || bytes.Contains(t.head, []byte("\n\n")) || len(t.head) >= maxHeaderTap {
			t.headEnd = true
		}
	}
	if t.max > 0 && t.n > t.max {
		t.tooBig = true
		return n, errTooBig
	}
	if err == io.EOF && t.want >= 0 && t.n != t.want {
		// go-imap ends a literal cut short by a closed connection with a
		// plain EOF: a message shorter than announced is no message.
		err = fmt.Errorf("the server announced %d bytes and sent %d: %w", t.want, t.n, io.ErrUnexpectedEOF)
	}
	if err != nil && err != io.EOF {
		t.readErr = err
	}
	t.eof = t.eof || err == io.EOF
	return n, err
}

func (t *tap) digest() string { return hex.EncodeToString(t.sum.Sum(nil)) }

// messageHash is the identity rows from before schema version 3 carry:
// Message-ID, Date and size. A refetch still recognises them by it. A
// message without a Message-ID has none ("", which matches no row): Date
// and size alone are shared by other messages (a script's mail, two
// alerts in one second), and one taken for another would lose its server
// copy as delivered without ever being fetched. Such a message is
// fetched again instead (at worst a second copy).
func messageHash(header []byte, size int64) string {
	id, date := "", ""
	// Read by mailhdr, as every part of ebb reads a header.
	if h, _ := mailhdr.Read(bufio.NewReader(bytes.NewReader(header)), len(header)+1); h != nil {
		id, date = h.Value("Message-Id"), h.Value("Date")
	}
	if strings.TrimSpace(id) == "" {
		return ""
	}
	h := sha256.Sum256([]byte(id + "\x00" + date + "\x00" + strconv.FormatInt(size, 10)))
	return hex.EncodeToString(h[:16])
}

// summaryFields are the header fields a notice names a message by.
var summaryFields = []string{"From", "Subject", "Date", "Message-ID"}

// maxSummary bounds a summary (it is stored and shown).
const maxSummary = 400

// summaryOf is "From: …; Subject: …; Date: …; Message-ID: …" of a header,
// each value on one line, without control characters, bounded.
func summaryOf(header []byte) string {
	// Read by mailhdr, as every part of ebb reads a header.
	h, _ := mailhdr.Read(bufio.NewReader(bytes.NewReader(header)), len(header)+1)
	if h == nil {
		return ""
	}
	var parts []string
	for _, k := range summaryFields {
		v := strings.Join(strings.Fields(mailhdr.DecodeText(h.Value(k))), " ")
		if v == "" {
			continue
		}
		v = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, v)
		if len(v) > 120 {
			v = v[:120] + "…"
		}
		parts = append(parts, k+": "+v)
	}
	s := strings.Join(parts, "; ")
	if len(s) > maxSummary {
		s = s[:maxSummary]
	}
	return s
}

// headerSafe keeps a value inside a header comment: no line breaks, no
// parentheses or backslashes that would end or escape it.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\r', '\n', '(', ')', '\\':
			return ' '
		}
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// received is the trace header (RFC 5321 §4.4) that names the remote
// server, the account and the UID the message came from.
func (f *Fetcher) received(o origin, queueID string, now time.Time) string {
	a := o.a
	id := o.uid
	if o.proto == "IMAP" || o.proto == "IMAPS" {
		id = fmt.Sprintf("%d/%s", o.uidvalidity, o.uid)
	}
	what := fmt.Sprintf("ebb fetch account %s, user %s, folder %s, uid %s", headerSafe(a.Name), headerSafe(a.Username), headerSafe(o.folder), headerSafe(id))
	if o.proto == "POP3" || o.proto == "POP3S" {
		what = fmt.Sprintf("ebb fetch account %s, user %s, uidl %s", headerSafe(a.Name), headerSafe(a.Username), headerSafe(id))
	}
	return fmt.Sprintf("Received: from %s (%s)\r\n\tby %s (%s)\r\n\twith %s id %s\r\n\tfor <%s>; %s\r\n",
		headerSafe(a.Host), headerSafe(where(a)), headerSafe(f.Hostname), what, o.proto, queueID, a.Mailbox,
		now.Format(time.RFC1123Z))
}

// taken is a message streamed into the queue.
type taken struct {
	queueID string
	digest  string
	size    int64
	summary string
	pending bool // its pending row is written (recordPending)
}

// take streams one message into the queue and returns once it is durable
// there. A failed read is the server's trouble (returned as the read
// error, tap.readErr); a refusal is the local side's (a *diag.Error:
// permanent for a scanner's reject or the size limit, temporary for our
// own trouble).
func (f *Fetcher) take(ctx context.Context, o origin, body io.Reader, want int64) (taken, *tap, error) {
	t := newTap(body, f.MaxMessageSize, want)
	env := &queue.Envelope{
		// The null sender: a fetched message must never cause a bounce to
		// its original sender (it was delivered once already, remotely);
		// who hears of a failure is decided here (docs/fetch.md).
		From:       "",
		Recipients: []string{o.a.Mailbox},
		ClientAddr: where(o.a),
		ClientName: o.a.Host,
		Proto:      o.proto,
		SessionID:  "fetch:" + o.a.Name,
	}
	now := f.clock()
	summary, pending := "", false
	id, err := f.Sink.Receive(ctx, env, t, queue.ReceiveOptions{Via: queue.ViaFetch, TLS: o.proto == "IMAPS" || o.proto == "POP3S",
		PrefixFor: func(id string) string {
			// The queue has read the message whole and given it its id;
			// its flush comes after this.
			if t.eof {
				summary = summaryOf(t.head)
				pending = f.recordPending(ctx, o, fetchstate.FetchedMessage{Digest: t.digest(), Size: t.n, QueueID: id, Summary: summary})
			}
			return f.received(o, id, now)
		}})
	if summary == "" {
		summary = summaryOf(t.head)
	}
	tk := taken{queueID: id, digest: t.digest(), size: t.n, summary: summary, pending: pending}
	switch {
	case t.readErr != nil:
		return tk, t, t.readErr
	case t.tooBig:
		return tk, t, f.sizeRefusal(o.a, t.n, true)
	case err != nil:
		return tk, t, err
	}
	return tk, t, nil
}

// recordPending records a message as pending under the queue id Receive
// gave it, before the queue makes it durable: a crash after the queue's
// flush and before the pass records what the queue did (with the pipe,
// up to pipeDepth messages) leaves a row that the next pass settles by
// asking the queue (settlePending), instead of fetching each message
// again. The row is written once the message is read whole (its digest,
// size and summary final), beside the pass reading the next one. It
// cannot fail the message (the queue's hook returns no error): a row not
// written leaves this one message to be fetched again after a crash, as
// before there were pending rows, and says so; it reports whether the row
// is written.
func (f *Fetcher) recordPending(ctx context.Context, o origin, m fetchstate.FetchedMessage) bool {
	m.QueueHost, m.State = f.Hostname, fetchstate.FetchPending
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := f.Store.RecordFetched(rctx, o.a.Name, o.fetched(m)); err != nil {
		f.log().Warn("cannot record a fetched message as pending before the queue makes it durable: a crash before its record would fetch it again",
			"account", o.a.Name, "server", where(o.a), "folder", o.folder, "uid", o.uid, "queue_id", m.QueueID, "err", err)
		return false
	}
	return true
}

// sizeRefusal is the local refusal of a message over the size limit.
func (f *Fetcher) sizeRefusal(a *fetchstate.FetchAccount, size int64, atLeast bool) *diag.Error {
	what := fmt.Sprintf("%d bytes", size)
	if atLeast {
		what = "more than " + what
	}
	e := diag.New("size", "take a message for", a.Mailbox,
		fmt.Errorf("it has %s, over smtp.max_message_size (%d bytes)", what, f.MaxMessageSize))
	e.Component, e.Class = Component+" "+a.Name, diag.Permanent
	e.SMTPCode, e.Enhanced, e.Public = 552, [3]int{5, 3, 4}, fmt.Sprintf("Message too big for this system (%s; the limit is %s)",
		diag.HumanBytes(uint64(max(size, 0))), diag.HumanBytes(uint64(max(f.MaxMessageSize, 0))))
	fix := because("read it on the server")
	if f.Setting != nil {
		if s := f.Setting("smtp.max_message_size"); s != nil {
			want := (size + size/8 + 1<<20 - 1) >> 20
			fix = diag.Because("read it on the server; or take it here", diag.SetString(s, fmt.Sprintf("%dM", want)), diag.Restart(s),
				diag.Say("run: ebb fetch retry "+a.Name+" with its UID (ebb fetch list names it)"))
		}
	}
	e.SetFix(fix)
	return e
}

// stepper is what one message's step needs from its session.
type stepper struct {
	dog *watchdog
	// abort ends the connection after a failed read of a body, before
	// anything else reads from it (go-imap's reader goes on once a literal
	// fails; a second reader of the same stream would race it).
	abort   func()
	p       Progress
	res     *Result
	waitFor map[string]bool // queue ids of the pass, for settle
	// tempInRow counts local temporary failures in a row: three stop the
	// pass (the trouble is not this message's).
	tempInRow int
	lastTemp  error
	// waiting: messages left on the server for room in the mailbox.
	waiting    int
	waitingWhy *diag.Error
	// toQueue: pending rows of messages the queue returned from, to be
	// recorded as queued together (markQueued), for account.
	toQueue []fetchstate.FetchedKey
	account string
}

// queueEvery is how many messages' pending rows a pass turns queued at
// once (and at the end of each batch): one write, not one per message.
const queueEvery = 32

// markQueued records the messages in s.toQueue as queued. It runs when
// they are queueEvery, and when a pipe finishes (every way out of a
// batch, before anything reads the rows as queued). Should it fail, their
// rows stay pending and the next pass settles them: none is fetched
// again.
func (f *Fetcher) markQueued(ctx context.Context, s *stepper) error {
	if len(s.toQueue) == 0 {
		return nil
	}
	// What is in the queue is recorded even when the pass is being
	// stopped (the account edited, ebb serve stopping).
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	n := len(s.toQueue)
	err := f.Store.MarkQueued(rctx, s.account, s.toQueue)
	s.toQueue = s.toQueue[:0]
	if err != nil {
		return fail(CauseLocal, fmt.Sprintf("record %d messages as queued", n), err,
			because("they are in the queue, recorded as pending: the next pass finds them there and does not fetch them again"))
	}
	return nil
}

// failure is what the pass reports after all it could take: our own
// trouble with a message, or messages waiting for room.
func (s *stepper) failure(a *fetchstate.FetchAccount) error {
	var err *failure
	switch {
	case s.lastTemp != nil:
		err = s.lastTemp.(*failure)
	case s.waiting > 0:
		err = waitingFor(a, s.waitingWhy, s.waiting)
	default:
		return nil
	}
	soft := *err
	soft.soft = true
	return &soft
}

// afterTake records what take did with one message, in the order the
// messages came (the pipe calls it): queued and recorded as queued, or,
// when the local side refuses it for good, recorded as skipped (it stays
// on the server). It returns ok when the message is recorded either way;
// an error only for what stops the pass (the server's trouble, or ours
// three times in a row).
func (f *Fetcher) afterTake(ctx context.Context, o origin, tk taken, t *tap, err error, s *stepper) (ok bool, _ error) {
	if err != nil {
		if t != nil && t.readErr != nil {
			if s.abort != nil {
				s.abort()
			}
			return false, s.dog.explain(err)
		}
		if errors.Is(err, context.Canceled) || ctx.Err() != nil {
			return false, ctx.Err()
		}
		de := diag.From(err, Component+" "+o.a.Name, "queue")
		if de.Class == diag.Permanent {
			return true, f.recordSkip(ctx, o, tk.size, tk.summary, de, s.res)
		}
		s.tempInRow++
		s.lastTemp = fail(CauseLocal, "queue "+o.name()+" for "+o.a.Mailbox, err,
			because("the message stays on the server and is fetched again at the next attempt"))
		f.log().Warn("cannot queue a fetched message; it stays on the server", "account", o.a.Name, "server", where(o.a),
			"folder", o.folder, "uid", o.uid, "diag", de)
		if s.tempInRow >= 3 {
			return false, s.lastTemp
		}
		return false, nil
	}
	s.tempInRow = 0
	if tk.pending {
		// Its pending row turns queued with others' (markQueued).
		s.toQueue, s.account = append(s.toQueue, o.fetched(fetchstate.FetchedMessage{}).Key()), o.a.Name
		if len(s.toQueue) >= queueEvery {
			if err := f.markQueued(ctx, s); err != nil {
				return false, err
			}
		}
	} else {
		// No pending row (it could not be written): the whole record.
		// What is in the queue is recorded even when the pass is being
		// stopped (the account edited, ebb serve stopping): otherwise the
		// next pass would fetch it again and it would be delivered twice.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := f.Store.RecordFetched(rctx, o.a.Name, o.fetched(fetchstate.FetchedMessage{Digest: tk.digest, Size: tk.size,
			QueueID: tk.queueID, QueueHost: f.Hostname, State: fetchstate.FetchQueued, Summary: tk.summary})); err != nil {
			return false, fail(CauseLocal, "record "+o.name()+" as queued (it is in the queue as "+tk.queueID+")", err,
				because("it will be fetched again once the directory works: at most this one message twice"))
		}
	}
	s.waitFor[tk.queueID] = true
	s.res.Fetched++
	s.res.Bytes += tk.size
	if s.p != nil {
		s.p.Message(tk.size)
	}
	return true, nil
}

// PublicReason is what a skipped message's notice says of a refusal: its
// public text (what an SMTP client would read), never the sentence with
// local paths, owners and settings — that is in ebb explain by the ref.
func PublicReason(de *diag.Error) string {
	if de == nil {
		return "not delivered here"
	}
	if de.Public != "" {
		return de.Public
	}
	if de.Temporary() {
		return "a local error here; tried again later"
	}
	return "refused here"
}

// recordSkip records a message the local side refused for good: it stays
// on the server, and a person is told at the end of the pass.
func (f *Fetcher) recordSkip(ctx context.Context, o origin, size int64, summary string, de *diag.Error, res *Result) error {
	ref := de.EnsureRef()
	m := o.fetched(fetchstate.FetchedMessage{Size: size, State: fetchstate.FetchSkipped, Reason: de.Sentence(), Public: PublicReason(de), Ref: ref, Summary: summary})
	if err := f.Store.RecordFetched(ctx, o.a.Name, m); err != nil {
		return fail(CauseLocal, "record "+o.name()+" as skipped", err, because("it stays on the server and is tried again at the next attempt"))
	}
	res.Skipped++
	f.reportSkip(o.a, m)
	return nil
}

// ready is the local pre-check of one message of size bytes: nil to
// fetch it; a refusal of this message for good (skip it); a refusal for
// now (a full mailbox under mail.over_quota = temporary: it waits on the
// server, and the pass reports the quota); or an error that stops the
// pass (the account's mailbox cannot take mail).
func (f *Fetcher) ready(ctx context.Context, a *fetchstate.FetchAccount, size int64) (refusal, wait *diag.Error, stop error) {
	if f.MaxMessageSize > 0 && size > f.MaxMessageSize {
		return f.sizeRefusal(a, size, false), nil, nil
	}
	l := f.local()
	if l == nil {
		return nil, nil, nil
	}
	err := l.Ready(ctx, a.Mailbox, size)
	if err == nil {
		return nil, nil, nil
	}
	de, ok := diag.As(err)
	switch {
	case ok && (de.Op == "quota" || de.Op == "size") && de.Class == diag.Permanent:
		return de, nil, nil
	case ok && de.Op == "quota" && de.Errno == "EDQUOT":
		return nil, de, nil
	}
	return nil, nil, fail(CauseMailbox, "deliver to "+a.Mailbox, err, because("the messages stay on the server until the mailbox takes mail again"))
}

// waitingFor is the pass's failure when messages wait on the server for
// room in the mailbox.
func waitingFor(a *fetchstate.FetchAccount, de *diag.Error, n int) *failure {
	return fail(CauseQuota, "deliver to "+a.Mailbox, fmt.Errorf("%d messages wait on the server: %w", n, de),
		because("they are fetched once they fit (mail.over_quota = temporary)"))
}

// markRemoved records that the server copies of uids are gone.
func (f *Fetcher) markRemoved(ctx context.Context, a *fetchstate.FetchAccount, folder string, uv uint32, uids []string) error {
	if err := f.Store.MarkRemoved(ctx, a.Name, folder, uv, uids); err != nil {
		return fail(CauseLocal, "record messages as removed from the server", err, nil)
	}
	return nil
}

// kickReader keeps the watchdog from firing while data flows.
type kickReader struct {
	r   io.Reader
	dog *watchdog
}

func (k *kickReader) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if n > 0 {
		k.dog.kick()
	}
	return n, err
}
