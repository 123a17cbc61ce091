// Package fetch pulls mail from remote IMAP and POP3 accounts into the
// queue, exactly once, and removes a server copy only once its message is
// delivered here (docs/fetch.md).
//
// Per account and folder, a message goes through these steps:
//
//  1. it is streamed into the queue (Sink.Receive returns only once data
//     and envelope are fsynced), with the digest of its content;
//  2. its UID (IMAP, under the folder's UIDVALIDITY) or UIDL (POP3) is
//     recorded as queued: it is never fetched again;
//  3. the queue delivers it and says how that ended (the daemon writes
//     the outcome to the directory, and Local.Settled wakes the pass):
//     delivered, or refused for good (quota, loop, a Sieve reject, an
//     expiry …);
//  4. only a delivered message is deleted or moved on the server, and
//     that too is recorded. A refused one stays there, is recorded as
//     skipped with its reason (ebb fetch list, ebb explain, the log, a
//     metric) and a person is told (Local.Notify); the pass goes on with
//     the next message.
//
// What the local side refuses before the queue (a scanner's reject, a
// message over the size limit or a full mailbox under mail.over_quota =
// permanent) is skipped the same way, without being queued. A crash
// between any two steps loses nothing: before the record, the message is
// fetched again (the one in flight may arrive twice); after it, only the
// due step is repeated. A UIDVALIDITY change (RFC 3501 §2.3.1.1) follows
// fetch.uidvalidity_change; a refetch recognises what was taken before by
// its digest.
//
//	f := &fetch.Fetcher{Cfg: cfg.Fetch, Store: dir, Sink: q, Hostname: h, Log: lg}
//	res, err := f.Once(ctx, account, nil) // one pass over every folder
//	r := &fetch.Runner{F: f, Accounts: dir.FetchAccounts}
//	r.Run(ctx) // ebb serve: IDLE or polling, backoff, a bound on accounts
//
// Nothing a server sends can crash ebb: replies are bounded (a line, a
// literal, a command's answer), a message without a body is left alone,
// and a panic in one account's pass fails that account only.
//
// Errors are *diag.Error whose Op names the real cause (dns, connect,
// timeout, tls, login, token, folder, mailbox, uidvalidity, local,
// server, internal) and whose sentence names the account and the server
// (host:port).
package fetch

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/fetchstate"
	"github.com/ebbmail/ebb/internal/queue"
)

// Component names fetching in diag errors.
const Component = "ebb fetch"

// Sink is where fetched messages go: the queue's hand-off
// (queue.Receiver), as SMTP mail does; never an SMTP re-injection.
type Sink = queue.Receiver

// Local is what the daemon's Sink also does: it knows the local side. A
// Sink without it gets no pre-check, no waiting for outcomes and no
// notices (the unit tests' plain sinks).
type Local interface {
	// Ready says whether the mailbox can take a message of size bytes
	// now. A *diag.Error with Op "quota" or "size" and class Permanent
	// refuses this one message (it is skipped); any other error is the
	// account's (an unknown or disabled mailbox): the pass stops and every
	// message stays on the server.
	Ready(ctx context.Context, rcpt string, size int64) error
	// Queued reports whether the queue still holds the message id.
	Queued(id string) bool
	// Settled is closed once an outcome of a fetched message has been
	// recorded (take it again after each wake).
	Settled() <-chan struct{}
	// Notify tells a person about skipped messages (docs/fetch.md: the
	// mailbox owner and the postmaster). It returns once the notice is
	// queued.
	Notify(ctx context.Context, n Notice) error
}

// Notice is what Local.Notify tells: messages of one account that stay
// on the server, each with why.
type Notice struct {
	Account  *fetchstate.FetchAccount
	Server   string // host:port
	Messages []fetchstate.FetchedMessage
}

// Store keeps accounts' state: fetchstate.Store, in the directory's
// database (both backends).
type Store interface {
	FetchFolderState(ctx context.Context, account, folder string) (fetchstate.FetchFolder, error)
	SetFetchFolderState(ctx context.Context, account, folder string, f fetchstate.FetchFolder) error
	RecordFetched(ctx context.Context, account string, m fetchstate.FetchedMessage) error
	FetchedInFolder(ctx context.Context, account, folder string, uidvalidity uint32) (map[string]fetchstate.FetchedMessage, error)
	FetchedElsewhere(ctx context.Context, account, folder string, uidvalidity uint32) ([]fetchstate.FetchedMessage, error)
	FetchedByState(ctx context.Context, account string, states ...fetchstate.FetchState) ([]fetchstate.FetchedMessage, error)
	FetchedDue(ctx context.Context, account, folder string, uidvalidity uint32) ([]fetchstate.FetchedMessage, error)
	ApplyFetchOutcomes(ctx context.Context, account string) ([]fetchstate.FetchedMessage, error)
	FetchOutcome(ctx context.Context, queueID string) (outcome, reason, ref string, err error)
	MarkRemoved(ctx context.Context, account, folder string, uidvalidity uint32, uids []string) error
	MarkNotified(ctx context.Context, account string, keys []fetchstate.FetchedKey) error
	MarkQueued(ctx context.Context, account string, keys []fetchstate.FetchedKey) error
	SkipFetched(ctx context.Context, account string, keys []fetchstate.FetchedKey, reason, public, ref string) error
	ForgetFetched(ctx context.Context, account string, keys []fetchstate.FetchedKey) error
	RetryPending(ctx context.Context, account string, keys []fetchstate.FetchedKey) error
	SetFetchOAuth(ctx context.Context, name string, o *fetchstate.OAuth2) error
	SetFetchStatus(ctx context.Context, name string, s fetchstate.FetchStatus) error
}

// Progress hears about a pass as it goes (ebb fetch run's bar).
type Progress interface {
	// Folder starts a folder with total new messages.
	Folder(account, folder string, total int)
	// Message is called after each message is queued and recorded.
	Message(size int64)
}

// Fetcher fetches accounts. It is safe for concurrent use on different
// accounts; one account must not run twice at once (Runner sees to it).
type Fetcher struct {
	Cfg      config.Fetch
	Store    Store
	Sink     Sink
	Hostname string // for the Received: header
	Log      *slog.Logger
	// Setting, when set, gives the setting of a config key (cfg.Setting),
	// for the fixes that name one.
	Setting func(key string) *diag.Setting
	// ReadAs, when set, is who reads the account's files in ebb serve
	// (server.user): ebb fetch test, run as root, checks the CA file as
	// that user would meet it, not as root.
	ReadAs *diag.Identity
	// MaxMessageSize is the largest message taken (smtp.max_message_size;
	// 0: no limit of ours). A larger one is skipped and stays on the server.
	MaxMessageSize int64
	// SettleWait bounds how long a pass waits, at its end, for the queue
	// to try the messages it queued, so that their server copies can go in
	// the same session (0: fetch.timeout). What is still in the queue then
	// keeps its server copy until a later pass.
	SettleWait time.Duration
	// Observe, when set, hears each attempt's outcome (metrics): cause ""
	// is success.
	Observe func(account, cause string, res Result)
	// Skipped, when set, hears of each message that is skipped (the
	// journal, a metric); the fetcher logs it itself.
	Skipped func(a *fetchstate.FetchAccount, m fetchstate.FetchedMessage)
	// HTTPContext, when set, supplies the context for token requests
	// (tests give it an http.Client via oauth2.HTTPClient).
	HTTPContext func(ctx context.Context) context.Context
	// now is time.Now (tests).
	now func() time.Time
}

// Result is what one pass did.
type Result struct {
	Fetched   int   // messages taken into the queue
	Delivered int   // messages the queue delivered (of this pass or earlier ones)
	Known     int   // already taken before (a refetch after a UIDVALIDITY change), not queued again
	Skipped   int   // refused here: they stay on the server, and a person is told
	Waiting   int   // still in the queue at the end: their server copies stay until they are delivered
	Removed   int   // deleted or moved on the server
	Bytes     int64 // message bytes queued
}

func (r *Result) add(o Result) {
	r.Fetched += o.Fetched
	r.Delivered += o.Delivered
	r.Known += o.Known
	r.Skipped += o.Skipped
	r.Removed += o.Removed
	r.Bytes += o.Bytes
	r.Waiting = o.Waiting
}

func (f *Fetcher) clock() time.Time {
	if f.now != nil {
		return f.now()
	}
	return time.Now()
}

func (f *Fetcher) log() *slog.Logger {
	if f.Log != nil {
		return f.Log
	}
	return slog.Default()
}

func (f *Fetcher) local() Local {
	l, _ := f.Sink.(Local)
	return l
}

// Once runs one pass over the account: every folder, every new message,
// then the after-actions; it records the outcome as the account's status.
func (f *Fetcher) Once(ctx context.Context, a *fetchstate.FetchAccount, p Progress) (Result, error) {
	var res Result
	err := f.session(ctx, a, p, &res, nil)
	f.record(ctx, a, res, err)
	return res, err
}

// session runs one session of the account (IMAP: until nothing is left
// to do, or with w, in IDLE until ctx ends). When the server refuses the
// OAuth2 access token, or ends the session saying it expired, earlier than
// its stated expiry, the token is refreshed and the session run again,
// once. A panic in it (a bug of ours, whatever the server sent) becomes
// the account's failure: it stops this account only.
func (f *Fetcher) session(ctx context.Context, a *fetchstate.FetchAccount, p Progress, res *Result, w *watch) (err error) {
	defer func() {
		if v := recover(); v != nil {
			f.log().Error("fetch account stopped by a panic: a bug in ebb; the other accounts and ebb serve go on", "account", a.Name,
				"server", where(a), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = fail(CauseInternal, "fetch from "+where(a), fmt.Errorf("a bug in ebb: %v", v),
				because("nothing is lost (what was not recorded is fetched again); please report it with the log's stack; the account is tried again with backoff"))
		}
	}()
	retried := false
	for {
		var err error
		if a.Protocol == "pop3" {
			err = f.popSession(ctx, a, p, res)
		} else {
			err = f.imapSession(ctx, a, p, res, w)
		}
		if err != nil && !retried && a.Auth == "oauth2" && a.OAuth != nil && a.OAuth.RefreshToken != "" &&
			(causeOf(err) == CauseLogin || isTokenExpiredWords(err.Error())) {
			retried = true
			a.OAuth.Expiry = time.Unix(1, 0)
			f.log().Info("the server refused the access token: refreshing it and logging in again", "account", a.Name, "server", where(a), "err", err)
			continue
		}
		return err
	}
}

// record stores the account's status after an attempt and tells Observe.
func (f *Fetcher) record(ctx context.Context, a *fetchstate.FetchAccount, res Result, err error) {
	st := a.Status
	st.At = f.clock().UTC()
	st.Fetched += int64(res.Fetched)
	cause := ""
	if err != nil {
		de := asDiag(err, a)
		cause = de.Op
		st.OK, st.Text, st.Cause = false, de.Sentence(), cause
		st.Failures++
		f.log().Warn("fetch failed", "account", a.Name, "server", where(a), "cause", cause, "doing", de.Doing,
			"fetched", res.Fetched, "skipped", res.Skipped, "text", de.Sentence(), "diag", de)
	} else {
		st.OK, st.Text, st.Cause, st.Failures, st.LastOK = true, "", "", 0, st.At
		if res.Fetched > 0 || res.Removed > 0 || res.Skipped > 0 || res.Known > 0 {
			f.log().Info("fetched", "account", a.Name, "server", where(a), "fetched", res.Fetched, "delivered", res.Delivered,
				"known", res.Known, "skipped", res.Skipped, "waiting", res.Waiting, "removed", res.Removed, "bytes", res.Bytes)
		}
	}
	a.Status = st
	// A status that cannot be stored is logged; the mail is safe either way.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if serr := f.Store.SetFetchStatus(sctx, a.Name, st); serr != nil {
		f.log().Warn("cannot record the fetch status", "account", a.Name, "err", serr)
	}
	if f.Observe != nil {
		f.Observe(a.Name, cause, res)
	}
}
