package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/ebbmail/ebb/internal/directory"
)

// errReauth ends a session whose OAuth2 access token is about to expire:
// the caller logs in again at once with a fresh one (no backoff).
var errReauth = errors.New("the access token expires: logging in again")

// watch is what the daemon adds to a session: IDLE between passes, the
// slot it gives back when it enters IDLE, and a report after each pass.
type watch struct {
	release  func()
	passDone func(res Result, err error)
}

// imapConn is one logged-in IMAP connection.
type imapConn struct {
	c       *imapclient.Client
	proto   string
	expiry  time.Time // of the access token (zero: password)
	events  chan struct{}
	dog     *watchdog
	account *directory.FetchAccount
	unhook  func() bool // of the context.AfterFunc that closes c
}

func (f *Fetcher) imapDial(ctx context.Context, a *directory.FetchAccount) (*imapConn, error) {
	tc, err := tlsConfig(a)
	if err != nil {
		return nil, err
	}
	ic := &imapConn{events: make(chan struct{}, 1), account: a, proto: "IMAP"}
	opts := &imapclient.Options{
		TLSConfig: tc,
		Dialer:    &net.Dialer{Timeout: f.Cfg.Timeout.Duration},
		// The handler runs on the reader goroutine: never block it.
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case ic.events <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	c, proto, err := dialIMAP(a, opts)
	if err != nil {
		return nil, err
	}
	ic.proto = proto
	ic.c = c
	ic.dog = newWatchdog(f.Cfg.Timeout.Duration, func() { c.Close() })
	ic.unhook = context.AfterFunc(ctx, func() { c.Close() })
	if err := c.WaitGreeting(); err != nil {
		ic.close()
		return nil, ic.dog.explain(err)
	}
	ic.dog.kick()
	if err := f.imapLogin(ctx, ic); err != nil {
		ic.close()
		return nil, err
	}
	ic.dog.kick()
	return ic, nil
}

// dialIMAP connects as the account's --tls says; the proto is the
// Received header's "with".
func dialIMAP(a *directory.FetchAccount, opts *imapclient.Options) (*imapclient.Client, string, error) {
	switch a.TLS {
	case "implicit":
		c, err := imapclient.DialTLS(where(a), opts)
		return c, "IMAPS", err
	case "starttls":
		c, err := imapclient.DialStartTLS(where(a), opts) // encrypted after STARTTLS
		return c, "IMAPS", err
	}
	c, err := imapclient.DialInsecure(where(a), opts)
	return c, "IMAP", err
}

func (ic *imapConn) close() {
	ic.dog.stop()
	ic.unhook()
	ic.c.Close()
}

func (f *Fetcher) imapLogin(ctx context.Context, ic *imapConn) error {
	a, c := ic.account, ic.c
	doing := fmt.Sprintf("log in to %s as %s", where(a), a.Username)
	var err error
	if a.Auth == "oauth2" {
		tok, exp, terr := f.accessToken(ctx, a)
		if terr != nil {
			return terr
		}
		ic.expiry = exp
		mech := "XOAUTH2"
		if a.OAuth.Mechanism != "" {
			mech = a.OAuth.Mechanism
		}
		err = c.Authenticate(saslClient(mech, a.Username, tok, a.Host, a.Port))
	} else {
		err = c.Login(a.Username, a.Password).Wait()
	}
	var ie *imap.Error
	var refused *tokenRefused
	var obe *sasl.OAuthBearerError
	switch {
	case errors.As(err, &refused):
		return fail(CauseLogin, doing, refused, "the access token was refused; run ebb fetch auth "+a.Name+" if this persists")
	case errors.As(err, &obe):
		return fail(CauseLogin, doing, fmt.Errorf("the server refused the token (RFC 7628 status %s)", obe.Status),
			"the access token was refused; run ebb fetch auth "+a.Name+" if this persists")
	}
	if errors.As(err, &ie) {
		words := ie.Text
		if ie.Code != "" {
			words = "[" + string(ie.Code) + "] " + words
		}
		hint := "check the username and the password (ebb fetch passwd " + a.Name + ")"
		if a.Auth == "oauth2" {
			hint = "the access token was refused; run ebb fetch auth " + a.Name + " if this persists"
		}
		return fail(CauseLogin, doing, fmt.Errorf("the server refused the login: %s", words), hint)
	}
	if err != nil {
		return ic.dog.explain(err)
	}
	return nil
}

// imapSession runs passes over the account's folders until there is
// nothing more to do (w == nil: once) or ctx ends (the daemon, with IDLE).
// A session whose access token expires logs in again and goes on.
func (f *Fetcher) imapSession(ctx context.Context, a *directory.FetchAccount, p Progress, res *Result, w *watch) error {
	for {
		err := f.imapConnSession(ctx, a, p, res, w)
		if errors.Is(err, errReauth) {
			f.log().Info("access token expires during the session: logging in again", "account", a.Name)
			continue
		}
		return err
	}
}

func (f *Fetcher) imapConnSession(ctx context.Context, a *directory.FetchAccount, p Progress, res *Result, w *watch) error {
	ic, err := f.imapDial(ctx, a)
	if err != nil {
		return err
	}
	defer func() {
		ic.dog.kick()
		ic.c.Logout().Wait()
		ic.close()
	}()
	for {
		var pass Result
		for _, folder := range a.Folders {
			if err := f.imapFolder(ctx, ic, folder, p, &pass); err != nil {
				res.add(pass)
				return err
			}
		}
		res.add(pass)
		if w == nil {
			return nil
		}
		w.passDone(pass, nil)
		*res = Result{}
		// IDLE watches one folder; with several, the account is polled.
		if !f.Cfg.Idle || len(a.Folders) != 1 || !ic.c.Caps().Has(imap.CapIdle) {
			return nil
		}
		// An account in IDLE holds no slot: its connection is open and
		// what the server pushes is fetched at once on it, whatever the
		// other accounts do.
		w.release()
		if err := f.idle(ctx, ic); err != nil {
			return err
		}
	}
}

func (r *Result) add(o Result) {
	r.Delivered += o.Delivered
	r.Skipped += o.Skipped
	r.Removed += o.Removed
	r.Bytes += o.Bytes
}

// idle waits in IDLE (RFC 2177) for new mail, re-issuing it every
// fetch.idle_restart (before the 29 minutes of §3), and ends early when
// the access token is about to expire.
func (f *Fetcher) idle(ctx context.Context, ic *imapConn) error {
	select { // an EXISTS seen during the pass is handled by it
	case <-ic.events:
	default:
	}
	for {
		ic.dog.kick()
		cmd, err := ic.c.Idle()
		if err != nil {
			return ic.dog.explain(err)
		}
		ic.dog.pause()
		restart := time.NewTimer(f.Cfg.IdleRestart.Duration)
		var tokenC <-chan time.Time
		if !ic.expiry.IsZero() {
			d := time.Until(ic.expiry.Add(-f.Cfg.TokenRefreshBefore.Duration))
			if d < 0 {
				d = 0
			}
			tokenC = time.After(d)
		}
		var out error
		done := false
		why := "new mail"
		select {
		case <-ic.events:
			done = true
		case <-restart.C:
			why = "fetch.idle_restart"
		case <-tokenC:
			out, done, why = errReauth, true, "the access token expires"
		case <-ctx.Done():
			out, done, why = ctx.Err(), true, "stopping"
		case <-ic.c.Closed():
			out, done, why = io.EOF, true, "the server closed the connection"
		}
		f.log().Debug("IDLE ends", "account", ic.account.Name, "why", why)
		restart.Stop()
		ic.dog.kick()
		if err := cmd.Close(); err != nil && out == nil {
			out = err
		}
		if err := cmd.Wait(); err != nil && out == nil {
			out = ic.dog.explain(err)
		}
		if done || out != nil {
			return out
		}
	}
}

// imapFolder fetches the new messages of one folder, then does the
// after-actions that are due.
func (f *Fetcher) imapFolder(ctx context.Context, ic *imapConn, folder string, p Progress, res *Result) error {
	a, c := ic.account, ic.c
	st, err := f.Store.FetchFolderState(ctx, a.Name, folder)
	if err != nil {
		return fail(CauseLocal, "read the state of folder "+folder, err, "")
	}
	if st.Stopped != "" {
		return fail(CauseUIDValidity, "fetch from folder "+folder, errors.New(st.Stopped), uidvalidityHint(a))
	}
	condstore := c.Caps().Has(imap.CapCondStore)
	ic.dog.kick()
	sel, err := c.Select(folder, &imap.SelectOptions{CondStore: condstore}).Wait()
	if err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) {
			return fail(CauseFolder, fmt.Sprintf("select the folder %q on %s", folder, where(a)),
				fmt.Errorf("the server says: %s", ie.Text), "check the folder name (ebb fetch test "+a.Name+" lists the server's folders)")
		}
		return ic.dog.explain(err)
	}
	if st.UIDValidity != 0 && sel.UIDValidity != st.UIDValidity {
		// RFC 3501 §2.3.1.1: every stored UID of the folder is void.
		if f.Cfg.UIDValidityChange != "refetch" {
			st.Stopped = fmt.Sprintf("the UIDVALIDITY of folder %s changed from %d to %d on %s: the UIDs recorded as delivered no longer name the same messages, so nothing more is fetched from it (fetch.uidvalidity_change = stop)",
				folder, st.UIDValidity, sel.UIDValidity, f.clock().UTC().Format(time.RFC3339))
			if err := f.Store.SetFetchFolderState(ctx, a.Name, folder, st); err != nil {
				return fail(CauseLocal, "record the state of folder "+folder, err, "")
			}
			return fail(CauseUIDValidity, "fetch from folder "+folder, errors.New(st.Stopped), uidvalidityHint(a))
		}
		f.log().Warn("UIDVALIDITY changed: going through the folder again, skipping messages delivered before (by Message-ID, Date and size)",
			"account", a.Name, "folder", folder, "old", st.UIDValidity, "new", sel.UIDValidity)
		st = directory.FetchFolder{}
	}
	if st.UIDValidity == 0 {
		st = directory.FetchFolder{UIDValidity: sel.UIDValidity}
		if err := f.Store.SetFetchFolderState(ctx, a.Name, folder, st); err != nil {
			return fail(CauseLocal, "record the state of folder "+folder, err, "")
		}
	}
	seen, err := f.Store.FetchedUIDs(ctx, a.Name, folder, st.UIDValidity)
	if err != nil {
		return fail(CauseLocal, "read what was fetched from "+folder, err, "")
	}
	// After-actions recorded as due (a crash came between the record and
	// the delete or move) are done first.
	if a.After != "keep" {
		var due []imap.UID
		for u, removed := range seen {
			if !removed {
				if n, err := strconv.ParseUint(u, 10, 32); err == nil {
					due = append(due, imap.UID(n))
				}
			}
		}
		if len(due) > 0 {
			if err := f.imapAfter(ctx, ic, folder, st.UIDValidity, due, res); err != nil {
				return err
			}
		}
	}
	// Nothing new: CONDSTORE's HIGHESTMODSEQ (RFC 7162) or UIDNEXT tell
	// without a search.
	if condstore && st.ModSeq != 0 && sel.HighestModSeq == st.ModSeq {
		return nil
	}
	if sel.UIDNext != 0 && uint32(sel.UIDNext) <= st.LastUID+1 && !condstore {
		return nil
	}
	var set imap.UIDSet
	set.AddRange(imap.UID(st.LastUID+1), 0)
	ic.dog.kick()
	sd, err := c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
	if err != nil {
		return ic.dog.explain(err)
	}
	var todo []imap.UID
	var highest imap.UID
	for _, u := range sd.AllUIDs() {
		highest = max(highest, u)
		// RFC 3501 §6.4.8: "n:*" always matches the highest UID, even
		// below n.
		if uint32(u) > st.LastUID && !hasUID(seen, u) {
			todo = append(todo, u)
		}
	}
	slices.Sort(todo)
	if len(todo) > 0 {
		hashes, err := f.Store.FetchedHashes(ctx, a.Name, folder)
		if err != nil {
			return fail(CauseLocal, "read what was fetched from "+folder, err, "")
		}
		if st.LastUID == 0 && len(hashes) > 0 {
			if todo, err = f.imapSkipKnown(ctx, ic, folder, st.UIDValidity, todo, hashes, res); err != nil {
				return err
			}
		}
	}
	if p != nil {
		p.Folder(a.Name, folder, len(todo))
	}
	for len(todo) > 0 {
		n := min(len(todo), f.Cfg.Batch)
		batch := todo[:n]
		todo = todo[n:]
		if !ic.expiry.IsZero() && time.Until(ic.expiry) < f.Cfg.TokenRefreshBefore.Duration {
			return errReauth
		}
		if err := f.imapBatch(ctx, ic, folder, st.UIDValidity, batch, p, res); err != nil {
			return err
		}
		// Every UID of the batch is delivered and recorded: the position
		// moves past them (UIDs only grow, RFC 3501 §2.3.1.1).
		st.LastUID = uint32(batch[len(batch)-1])
		if err := f.Store.SetFetchFolderState(ctx, a.Name, folder, st); err != nil {
			return fail(CauseLocal, "record the state of folder "+folder, err, "")
		}
		if a.After != "keep" {
			if err := f.imapAfter(ctx, ic, folder, st.UIDValidity, batch, res); err != nil {
				return err
			}
		}
	}
	// Every UID the search found is now delivered or recorded as known
	// (the refetch rule): the position moves past all of them, and the
	// UIDNEXT test above stays cheap.
	changed := false
	if uint32(highest) > st.LastUID {
		st.LastUID, changed = uint32(highest), true
	}
	if condstore && sel.HighestModSeq != 0 && sel.HighestModSeq != st.ModSeq {
		st.ModSeq, changed = sel.HighestModSeq, true
	}
	if changed {
		if err := f.Store.SetFetchFolderState(ctx, a.Name, folder, st); err != nil {
			return fail(CauseLocal, "record the state of folder "+folder, err, "")
		}
	}
	return nil
}

func uidvalidityHint(a *directory.FetchAccount) string {
	return "to go through the folder again, skipping what was delivered before (by Message-ID, Date and size): ebb fetch reset " + a.Name +
		"; or set fetch.uidvalidity_change = refetch"
}

func hasUID(seen map[string]bool, u imap.UID) bool {
	_, ok := seen[strconv.FormatUint(uint64(u), 10)]
	return ok
}

// imapBatch fetches batch with one UID FETCH of BODY.PEEK[] (the server's
// \Seen does not change) and streams each message into the queue.
func (f *Fetcher) imapBatch(ctx context.Context, ic *imapConn, folder string, uv uint32, batch []imap.UID, p Progress, res *Result) error {
	a := ic.account
	var set imap.UIDSet
	for _, u := range batch {
		set.AddNum(u)
	}
	ic.dog.kick()
	cmd := ic.c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	defer cmd.Close()
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		var uid imap.UID
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataBodySection:
				if uid == 0 && len(batch) == 1 {
					uid = batch[0]
				}
				if uid == 0 {
					// The UID must be known before the message is queued
					// (its Received header and record name it).
					io.Copy(io.Discard, it.Literal)
					return fail(CauseServer, "fetch from "+folder, errors.New("the server sent BODY[] before the UID"), "")
				}
				if !slices.Contains(batch, uid) {
					io.Copy(io.Discard, it.Literal)
					continue
				}
				o := origin{a: a, proto: ic.proto, folder: folder, uidvalidity: uv, uid: strconv.FormatUint(uint64(uid), 10)}
				if err := f.fetchOne(ctx, o, it.Literal, ic.dog, a.After == "keep", p, res); err != nil {
					return err
				}
			}
		}
	}
	if err := cmd.Close(); err != nil {
		return ic.dog.explain(err)
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

// imapSkipKnown applies the refetch rule: messages whose hash was
// delivered before are recorded without being queued again.
func (f *Fetcher) imapSkipKnown(ctx context.Context, ic *imapConn, folder string, uv uint32, todo []imap.UID, hashes map[string]bool, res *Result) ([]imap.UID, error) {
	a := ic.account
	var keep []imap.UID
	for start := 0; start < len(todo); start += 512 {
		part := todo[start:min(start+512, len(todo))]
		var set imap.UIDSet
		for _, u := range part {
			set.AddNum(u)
		}
		ic.dog.kick()
		msgs, err := ic.c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{
			{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID", "Date"}, Peek: true}}}).Collect()
		if err != nil {
			return nil, ic.dog.explain(err)
		}
		known := map[imap.UID]string{}
		for _, m := range msgs {
			var hdr []byte
			if len(m.BodySection) > 0 {
				hdr = m.BodySection[0].Bytes
			}
			if h := messageHash(hdr, m.RFC822Size); hashes[h] {
				known[m.UID] = h
			}
		}
		for _, u := range part {
			h, ok := known[u]
			if !ok {
				keep = append(keep, u)
				continue
			}
			if err := f.Store.RecordFetched(ctx, a.Name, directory.FetchedMessage{Folder: folder, UIDValidity: uv,
				UID: strconv.FormatUint(uint64(u), 10), Hash: h, Removed: a.After == "keep"}, 0); err != nil {
				return nil, fail(CauseLocal, "record a message as delivered", err, "")
			}
			res.Skipped++
		}
	}
	return keep, nil
}

// imapAfter deletes or moves messages that are recorded as delivered.
func (f *Fetcher) imapAfter(ctx context.Context, ic *imapConn, folder string, uv uint32, uids []imap.UID, res *Result) error {
	a, c := ic.account, ic.c
	var set imap.UIDSet
	for _, u := range uids {
		set.AddNum(u)
	}
	ic.dog.kick()
	switch a.After {
	case "delete":
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			return afterFailure(a, "mark as deleted", err, ic)
		}
		// UID EXPUNGE (RFC 4315) removes only these; a plain EXPUNGE would
		// also remove what another client marked \Deleted.
		var err error
		if c.Caps().Has(imap.CapUIDPlus) {
			err = c.UIDExpunge(set).Close()
		} else {
			err = c.Expunge().Close()
		}
		if err != nil {
			return afterFailure(a, "expunge", err, ic)
		}
	case "move":
		if _, err := c.Move(set, a.MoveTo).Wait(); err != nil {
			return afterFailure(a, "move to "+a.MoveTo, err, ic)
		}
	}
	names := make([]string, len(uids))
	for i, u := range uids {
		names[i] = strconv.FormatUint(uint64(u), 10)
	}
	if err := f.markRemoved(ctx, a, folder, uv, names); err != nil {
		return err
	}
	res.Removed += len(uids)
	return nil
}

func afterFailure(a *directory.FetchAccount, what string, err error, ic *imapConn) error {
	var ie *imap.Error
	if errors.As(err, &ie) {
		cause := CauseServer
		hint := "the messages are delivered and recorded; the " + a.After + " is tried again at the next attempt"
		if a.After == "move" {
			cause = CauseFolder
			hint = "check that the folder " + a.MoveTo + " exists on the server; " + hint
		}
		return fail(cause, what+" the fetched messages on "+where(a), fmt.Errorf("the server says: %s", ie.Text), hint)
	}
	return ic.dog.explain(err)
}
