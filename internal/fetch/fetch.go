// Package fetch pulls mail from remote IMAP and POP3 accounts into the
// queue, exactly once (docs/fetch.md).
//
// Exactly once, per account and folder: a message is streamed into the
// queue (Sink.Receive returns only once data and envelope are fsynced),
// then its UID (IMAP, under the folder's UIDVALIDITY) or UIDL (POP3) is
// recorded in the directory, then — only then — it is deleted or moved on
// the server, and that too is recorded. A crash between any two steps
// loses nothing: before the record, the message is fetched again (the one
// in-flight message may arrive twice); after it, only the due after-action
// is repeated. A UIDVALIDITY change (RFC 3501 §2.3.1.1) follows
// fetch.uidvalidity_change, never a silent refetch.
//
//	f := &fetch.Fetcher{Cfg: cfg.Fetch, Store: dir, Sink: q, Hostname: h, Log: lg}
//	res, err := f.Once(ctx, account, nil) // one pass over every folder
//	r := &fetch.Runner{F: f, Accounts: dir.FetchAccounts}
//	r.Run(ctx) // ebb serve: IDLE or polling, backoff, a bound on accounts
//
// Errors are *diag.Error whose Op names the real cause (dns, connect,
// timeout, tls, login, token, folder, uidvalidity, local, server): Status
// turns one into the account's status for ebb fetch list.
package fetch

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/queue"
)

// Component names fetching in diag errors.
const Component = "ebb fetch"

// Sink is where fetched messages go: the queue (queue.Queue.Receive), as
// SMTP mail does; never an SMTP re-injection.
type Sink interface {
	Receive(ctx context.Context, env *queue.Envelope, data io.Reader) (string, error)
}

// Ready is what a Sink may also do: say whether the local mailbox can
// take a message now (it exists, is enabled, is not over its quota).
// Fetching stops before a message that would only wait in the queue, or
// fail there: it stays on the server. The error is a *diag.Error (Op
// "quota" for a full mailbox).
type Ready interface {
	Ready(ctx context.Context, rcpt string) error
}

// Store keeps accounts' state: the directory (both backends).
type Store interface {
	FetchFolderState(ctx context.Context, account, folder string) (directory.FetchFolder, error)
	SetFetchFolderState(ctx context.Context, account, folder string, f directory.FetchFolder) error
	RecordFetched(ctx context.Context, account string, m directory.FetchedMessage, lastUID uint32) error
	FetchedUIDs(ctx context.Context, account, folder string, uidvalidity uint32) (map[string]bool, error)
	FetchedHashes(ctx context.Context, account, folder string) (map[string]bool, error)
	MarkRemoved(ctx context.Context, account, folder string, uidvalidity uint32, uids []string) error
	SetFetchOAuth(ctx context.Context, name string, o *directory.OAuth2) error
	SetFetchStatus(ctx context.Context, name string, s directory.FetchStatus) error
}

// Progress hears about a pass as it goes (ebb fetch run's bar).
type Progress interface {
	// Folder starts a folder with total new messages.
	Folder(account, folder string, total int)
	// Message is called after each message is delivered and recorded.
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
	// Observe, when set, hears each attempt's outcome (metrics): cause ""
	// is success.
	Observe func(account, cause string, delivered int)
	// HTTPContext, when set, supplies the context for token requests
	// (tests give it an http.Client via oauth2.HTTPClient).
	HTTPContext func(ctx context.Context) context.Context
	// now is time.Now (tests).
	now func() time.Time
}

// Result is what one pass did.
type Result struct {
	Delivered int   // messages queued
	Skipped   int   // already delivered (refetch rule) and not queued again
	Removed   int   // deleted or moved on the server
	Bytes     int64 // message bytes queued
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

// Once runs one pass over the account: every folder, every new message,
// then the after-actions; it records the outcome as the account's status.
func (f *Fetcher) Once(ctx context.Context, a *directory.FetchAccount, p Progress) (Result, error) {
	var res Result
	err := f.session(ctx, a, p, &res, nil)
	f.record(ctx, a, res, err)
	return res, err
}

// session runs one session of the account (IMAP: until nothing is left
// to do, or with w, in IDLE until ctx ends). When the server refuses the
// OAuth2 access token, or ends the session saying it expired, earlier than
// its stated expiry, the token is refreshed and the session run again,
// once.
func (f *Fetcher) session(ctx context.Context, a *directory.FetchAccount, p Progress, res *Result, w *watch) error {
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
			f.log().Info("the server refused the access token: refreshing it and logging in again", "account", a.Name, "err", err)
			continue
		}
		return err
	}
}

// record stores the account's status after an attempt and tells Observe.
func (f *Fetcher) record(ctx context.Context, a *directory.FetchAccount, res Result, err error) {
	st := a.Status
	st.At = f.clock().UTC()
	st.Fetched += int64(res.Delivered)
	cause := ""
	if err != nil {
		de := asDiag(err, a)
		cause = de.Op
		st.OK, st.Text, st.Cause = false, de.Sentence(), cause
		st.Failures++
		f.log().Warn("fetch failed", "account", a.Name, "cause", cause, "delivered", res.Delivered, "diag", de)
	} else {
		st.OK, st.Text, st.Cause, st.Failures, st.LastOK = true, "", "", 0, st.At
		if res.Delivered > 0 || res.Removed > 0 {
			f.log().Info("fetched", "account", a.Name, "delivered", res.Delivered, "skipped", res.Skipped,
				"removed", res.Removed, "bytes", res.Bytes)
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
		f.Observe(a.Name, cause, res.Delivered)
	}
}
