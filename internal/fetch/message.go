package fetch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/queue"
)

// origin is where one message comes from.
type origin struct {
	a           *directory.FetchAccount
	proto       string // IMAP, IMAPS, POP3, POP3S (the Received "with")
	folder      string
	uidvalidity uint32
	uid         string
}

// maxHeaderTap bounds how much of a message's header is kept to read
// Message-ID and Date from while it streams (memory stays flat).
const maxHeaderTap = 64 << 10

// tap passes a message through to the queue while it counts the bytes,
// keeps the start of the header, and remembers a read error of the
// server's side (so that it is not taken for trouble of ours).
type tap struct {
	r       io.Reader
	n       int64
	head    []byte
	headEnd bool
	readErr error
}

func (t *tap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += int64(n)
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
	if err != nil && err != io.EOF {
		t.readErr = err
	}
	return n, err
}

// messageHash identifies a message across a UIDVALIDITY change: its
// Message-ID, Date and size (fetch.uidvalidity_change = refetch).
func messageHash(header []byte, size int64) string {
	id, date := "", ""
	// Read by mailhdr, as every part of ebb reads a header.
	if h, _ := mailhdr.Read(bufio.NewReader(bytes.NewReader(header)), len(header)+1); h != nil {
		id, date = h.Value("Message-Id"), h.Value("Date")
	}
	h := sha256.Sum256([]byte(id + "\x00" + date + "\x00" + strconv.FormatInt(size, 10)))
	return hex.EncodeToString(h[:16])
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

// deliver streams one message into the queue and returns once it is
// durable there, with its hash. A failed read is the server's trouble
// (returned as the network error); a failed write is ours (CauseLocal).
func (f *Fetcher) deliver(ctx context.Context, o origin, body io.Reader) (queueID, hash string, size int64, err error) {
	if r, ok := f.Sink.(Ready); ok {
		if err := r.Ready(ctx, o.a.Mailbox); err != nil {
			cause := CauseLocal
			if de, ok := diag.As(err); ok && de.Op == "quota" {
				cause = CauseQuota
			}
			return "", "", 0, fail(cause, "fetch for "+o.a.Mailbox, err,
				"the message stays on the server and is fetched once the mailbox can take it")
		}
	}
	t := &tap{r: body}
	env := &queue.Envelope{
		// The null sender: a fetched message must never cause a bounce to
		// its original sender (it was delivered once already, remotely).
		From:       "",
		Recipients: []string{o.a.Mailbox},
		ClientAddr: where(o.a),
		ClientName: o.a.Host,
		Proto:      o.proto,
		SessionID:  "fetch:" + o.a.Name,
	}
	now := f.clock()
	env.PrefixFor = func(id string) string { return f.received(o, id, now) }
	id, err := f.Sink.Receive(ctx, env, t)
	if t.readErr != nil {
		return "", "", 0, t.readErr
	}
	if err != nil {
		return "", "", 0, fail(CauseLocal, "queue the message "+o.uid+" for "+o.a.Mailbox, err,
			"the message stays on the server and is fetched again at the next attempt; ebb doctor checks the spool")
	}
	return id, messageHash(t.head, t.n), t.n, nil
}

// fetchOne is the exactly-once step for one message: queue it (durable),
// then record it as delivered; removed says that no after-action is due.
func (f *Fetcher) fetchOne(ctx context.Context, o origin, body io.Reader, dog *watchdog, removed bool, p Progress, res *Result) error {
	qid, hash, size, err := f.deliver(ctx, o, &kickReader{r: body, dog: dog})
	if err != nil {
		return dog.explain(err)
	}
	if err := f.Store.RecordFetched(ctx, o.a.Name, directory.FetchedMessage{Folder: o.folder, UIDValidity: o.uidvalidity,
		UID: o.uid, Hash: hash, QueueID: qid, Removed: removed}, 0); err != nil {
		return fail(CauseLocal, "record message "+o.uid+" as delivered (it is queued as "+qid+")", err,
			"it will be fetched again once the directory works: at most this one message twice")
	}
	res.Delivered++
	res.Bytes += size
	if p != nil {
		p.Message(size)
	}
	return nil
}

// markRemoved records that the server copies of uids are gone.
func (f *Fetcher) markRemoved(ctx context.Context, a *directory.FetchAccount, folder string, uv uint32, uids []string) error {
	if err := f.Store.MarkRemoved(ctx, a.Name, folder, uv, uids); err != nil {
		return fail(CauseLocal, "record messages as removed from the server", err, "")
	}
	return nil
}
