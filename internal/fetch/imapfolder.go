package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// imapFolder fetches the new messages of one folder, waits (bounded) for
// the queue to deliver them, then does the after-actions of those it
// delivered.
func (f *Fetcher) imapFolder(ctx context.Context, ic *imapConn, folder string, p Progress, res *Result) error {
	a, c := ic.account, ic.c
	st, err := f.Store.FetchFolderState(ctx, a.Name, folder)
	if err != nil {
		return fail(CauseLocal, "read the state of folder "+folder, err, nil)
	}
	if st.Stopped != "" {
		return fail(CauseUIDValidity, "fetch from folder "+folder, errors.New(st.Stopped), uidvalidityFix(a))
	}
	condstore := c.Caps().Has(imap.CapCondStore)
	ic.drainEvents() // what arrives from here on is found by the search below, or wakes the next pass
	ic.dog.kick()
	sel, err := c.Select(folder, &imap.SelectOptions{CondStore: condstore}).Wait()
	if err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) {
			return fail(CauseFolder, fmt.Sprintf("select the folder %q on %s", folder, where(a)),
				fmt.Errorf("the server says: %s", ie.Text), diag.Because("the server has no such folder: see the folders it has, then name one",
					diag.Command("ebb", "fetch", "test", a.Name), diag.Say("run: ebb fetch set "+a.Name+" --folder ONE-OF-THEM")))
		}
		return ic.explain(err)
	}
	if sel.UIDValidity == 0 {
		return fail(CauseServer, fmt.Sprintf("select the folder %q on %s", folder, where(a)),
			errors.New("the server gave no UIDVALIDITY (RFC 9051 §7.1 requires one): without it ebb cannot tell what it fetched before"),
			because("the server is broken; nothing is fetched from this folder"))
	}
	if st.UIDValidity != 0 && sel.UIDValidity != st.UIDValidity {
		// RFC 3501 §2.3.1.1: every stored UID of the folder is void.
		if f.Cfg.UIDValidityChange != "refetch" {
			st.Stopped = fmt.Sprintf("the UIDVALIDITY of folder %s changed from %d to %d on %s: the UIDs recorded as delivered no longer name the same messages, so nothing more is fetched from it (fetch.uidvalidity_change = stop)",
				folder, st.UIDValidity, sel.UIDValidity, f.clock().UTC().Format(time.RFC3339))
			if err := f.Store.SetFetchFolderState(ctx, a.Name, folder, st); err != nil {
				return fail(CauseLocal, "record the state of folder "+folder, err, nil)
			}
			return fail(CauseUIDValidity, "fetch from folder "+folder, errors.New(st.Stopped), uidvalidityFix(a))
		}
		f.log().Warn("UIDVALIDITY changed: going through the folder again, skipping messages taken before (by the digest of their content)",
			"account", a.Name, "server", where(a), "folder", folder, "old", st.UIDValidity, "new", sel.UIDValidity)
		st = fetchstate.FetchFolder{}
	}
	if st.UIDValidity == 0 {
		st = fetchstate.FetchFolder{UIDValidity: sel.UIDValidity}
		if err := f.Store.SetFetchFolderState(ctx, a.Name, folder, st); err != nil {
			return fail(CauseLocal, "record the state of folder "+folder, err, nil)
		}
	}
	uv := st.UIDValidity
	// After-actions due from earlier passes (delivered since, or a crash
	// came between the record and the delete or move).
	if err := f.imapAfterDue(ctx, ic, folder, uv, res); err != nil {
		return err
	}
	rows, err := f.Store.FetchedInFolder(ctx, a.Name, folder, uv)
	if err != nil {
		return fail(CauseLocal, "read what was fetched from "+folder, err, nil)
	}
	var retry []imap.UID
	for u, m := range rows {
		if m.State == fetchstate.FetchRetry {
			if n, err := strconv.ParseUint(u, 10, 32); err == nil && n > 0 {
				retry = append(retry, imap.UID(n))
			}
		}
	}
	// Nothing new: CONDSTORE's HIGHESTMODSEQ (RFC 7162) or UIDNEXT tell
	// without a search.
	if len(retry) == 0 {
		if condstore && st.ModSeq != 0 && sel.HighestModSeq == st.ModSeq {
			return nil
		}
		if sel.UIDNext != 0 && uint32(sel.UIDNext) <= st.LastUID+1 && !condstore {
			return nil
		}
	}
	var set imap.UIDSet
	set.AddRange(imap.UID(st.LastUID+1), 0)
	for _, u := range retry {
		set.AddNum(u)
	}
	ic.dog.kick()
	sd, err := c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
	if err != nil {
		return ic.explain(err)
	}
	all, err := searchUIDs(sd, a)
	if err != nil {
		return err
	}
	found := map[imap.UID]bool{}
	var todo []imap.UID
	var highest imap.UID
	for _, u := range all {
		if u == 0 || found[u] {
			continue // a broken server's 0 or repeat
		}
		found[u] = true
		highest = max(highest, u)
		m, recorded := rows[strconv.FormatUint(uint64(u), 10)]
		// RFC 3501 §6.4.8: "n:*" always matches the highest UID, even
		// below n.
		if uint32(u) > st.LastUID && !recorded || recorded && m.State == fetchstate.FetchRetry {
			todo = append(todo, u)
		}
	}
	// A message asked for again that is gone from the server is forgotten.
	var gone []fetchstate.FetchedKey
	for _, u := range retry {
		if !found[u] {
			gone = append(gone, fetchstate.FetchedKey{Folder: folder, UIDValidity: uv, UID: strconv.FormatUint(uint64(u), 10)})
		}
	}
	if err := f.Store.ForgetFetched(ctx, a.Name, gone); err != nil {
		return fail(CauseLocal, "forget messages gone from "+folder, err, nil)
	}
	slices.Sort(todo)
	if st.LastUID == 0 && len(todo) > 0 {
		old, err := f.Store.FetchedElsewhere(ctx, a.Name, folder, uv)
		if err != nil {
			return fail(CauseLocal, "read what was fetched from "+folder, err, nil)
		}
		if len(old) > 0 {
			if todo, err = f.imapRefetch(ctx, ic, folder, uv, todo, old, rows, res); err != nil {
				return err
			}
		}
	}
	if p != nil {
		p.Folder(a.Name, folder, len(todo))
	}
	s := &stepper{dog: ic.dog, p: p, res: res, waitFor: map[string]bool{}, abort: func() { ic.c.Close() }}
	held := false // a UID left unrecorded: the position stays below it
	for len(todo) > 0 {
		n := min(len(todo), f.Cfg.Batch)
		batch := todo[:n]
		todo = todo[n:]
		if !ic.expiry.IsZero() && time.Until(ic.expiry) < f.Cfg.TokenRefreshBefore.Duration {
			return errReauth
		}
		recorded, err := f.imapBatch(ctx, ic, folder, uv, batch, s)
		if err != nil {
			return err
		}
		for _, u := range batch {
			if !recorded[u] {
				held = true
			}
		}
		// The position moves past UIDs that are all recorded (UIDs only
		// grow, RFC 3501 §2.3.1.1); a message the server did not send
		// (expunged meanwhile, or a broken answer) keeps it below, and the
		// next search finds it if it is still there.
		if !held && uint32(batch[len(batch)-1]) > st.LastUID {
			st.LastUID = uint32(batch[len(batch)-1])
			if err := f.Store.SetFetchFolderState(ctx, a.Name, folder, st); err != nil {
				return fail(CauseLocal, "record the state of folder "+folder, err, nil)
			}
		}
		// Server copies of what the queue delivered meanwhile go now.
		if _, err := f.settle(ctx, a, 0, s.waitFor, res); err != nil {
			return err
		}
		if err := f.imapAfterDue(ctx, ic, folder, uv, res); err != nil {
			return err
		}
	}
	if len(s.waitFor) > 0 {
		ic.dog.pause()
		_, err := f.settle(ctx, a, f.settleWait(), s.waitFor, res)
		ic.dog.resume()
		if err != nil {
			return err
		}
		if err := f.imapAfterDue(ctx, ic, folder, uv, res); err != nil {
			return err
		}
	}
	if err := s.failure(a); err != nil {
		return err
	}
	// Every UID the search found is now recorded: the position moves past
	// all of them, and the UIDNEXT test above stays cheap.
	changed := false
	if !held && uint32(highest) > st.LastUID {
		st.LastUID, changed = uint32(highest), true
	}
	if !held && condstore && sel.HighestModSeq != 0 && sel.HighestModSeq != st.ModSeq {
		st.ModSeq, changed = sel.HighestModSeq, true
	}
	if changed {
		if err := f.Store.SetFetchFolderState(ctx, a.Name, folder, st); err != nil {
			return fail(CauseLocal, "record the state of folder "+folder, err, nil)
		}
	}
	return nil
}

// maxSearchUIDs bounds the UIDs one SEARCH answer may name (a mailbox of
// ten million messages fits; a server that answers 1:4294967295 does not
// make ebb expand it).
const maxSearchUIDs = 10_000_000

// searchUIDs is the UIDs of a UID SEARCH answer, bounded. A range with
// "*" or 0 in it (RFC 9051 allows neither in an answer) is the server's
// error: go-imap would panic or expand it without end.
func searchUIDs(sd *imap.SearchData, a *fetchstate.FetchAccount) ([]imap.UID, error) {
	set, _ := sd.All.(imap.UIDSet)
	n := 0
	for _, r := range set {
		if r.Start == 0 || r.Stop == 0 {
			return nil, fail(CauseServer, "search the folder on "+where(a), errors.New("the server answered a UID of 0 or \"*\" (RFC 9051 §7.3.5 wants UIDs)"),
				because("the server is broken; nothing is fetched while it answers so"))
		}
		lo, hi := min(r.Start, r.Stop), max(r.Start, r.Stop)
		n += int(hi-lo) + 1
		if n > maxSearchUIDs {
			return nil, fail(CauseServer, "search the folder on "+where(a), fmt.Errorf("the server's answer names more than %d messages", maxSearchUIDs),
				because("the server is broken, or the folder too large for one pass"))
		}
	}
	out := make([]imap.UID, 0, n)
	for _, r := range set {
		for u := min(r.Start, r.Stop); ; u++ {
			out = append(out, u)
			if u == max(r.Start, r.Stop) {
				break
			}
		}
	}
	return out, nil
}

func uidvalidityFix(a *fetchstate.FetchAccount) *diag.Fix {
	return diag.Because("to go through the folder again, skipping what was taken before (by the digest of its content)",
		diag.Command("ebb", "fetch", "reset", a.Name))
}

// info is what a batch learns of a message before its body.
type info struct {
	size    int64
	summary string
}

// maxSummaryHeader bounds the header fields read for a summary.
const maxSummaryHeader = 8 << 10

// imapInfo asks for the size and the summary header fields of uids (one
// UID FETCH of RFC822.SIZE and BODY.PEEK[HEADER.FIELDS (…)]). A UID the
// server does not answer for is not in the result.
func (f *Fetcher) imapInfo(ic *imapConn, uids []imap.UID) (map[imap.UID]info, error) {
	out := map[imap.UID]info{}
	summaries := map[imap.UID]string{}
	err := ic.fetchEach(uids, &imap.FetchOptions{UID: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{
		{Specifier: imap.PartSpecifierHeader, HeaderFields: summaryFields, Peek: true}}},
		func(uid imap.UID, lit imap.LiteralReader) error {
			b, err := io.ReadAll(io.LimitReader(lit, maxSummaryHeader))
			if err != nil {
				ic.c.Close() // see stepper.abort
				return ic.explain(err)
			}
			summaries[uid] = summaryOf(b)
			return nil
		},
		func(uid imap.UID, size int64, hasSize bool) {
			if hasSize {
				out[uid] = info{size: size, summary: summaries[uid]}
			}
		})
	return out, err
}

// fetchEach runs one UID FETCH of uids and hands on what streams in: each
// BODY[] section that has a literal to onBody (its UID known: the server
// sent it first, or only one UID was asked for), and each message of
// uids, once read whole, to onMessage with its RFC822.SIZE when the
// server sent one. A message not in uids (or sent twice) is passed over;
// a body before its UID is the server's error.
func (ic *imapConn) fetchEach(uids []imap.UID, opts *imap.FetchOptions,
	onBody func(uid imap.UID, lit imap.LiteralReader) error, onMessage func(uid imap.UID, size int64, hasSize bool)) error {
	var set imap.UIDSet
	for _, u := range uids {
		set.AddNum(u)
	}
	ic.dog.kick()
	cmd := ic.c.Fetch(set, opts)
	defer cmd.Close()
	seen := map[imap.UID]bool{}
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		var uid imap.UID
		var size int64
		var hasSize bool
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataRFC822Size:
				size, hasSize = it.Size, true
			case imapclient.FetchItemDataBodySection:
				if uid == 0 && len(uids) == 1 {
					uid = uids[0]
				}
				if uid == 0 {
					// The UID must be known before the message is used (its
					// Received header and record name it).
					return fail(CauseServer, "fetch from "+where(ic.account), errors.New("the server sent BODY[] before the UID"),
						because("the server is broken; nothing is lost"))
				}
				if it.Literal == nil || seen[uid] || !slices.Contains(uids, uid) {
					continue // NIL, or not ours: the rest is discarded by Next
				}
				if err := onBody(uid, it.Literal); err != nil {
					return err
				}
			}
		}
		ic.dog.kick()
		if uid != 0 && !seen[uid] && slices.Contains(uids, uid) {
			seen[uid] = true
			if onMessage != nil {
				onMessage(uid, size, hasSize)
			}
		}
	}
	if err := cmd.Close(); err != nil {
		return ic.explain(err)
	}
	return nil
}

// imapBatch takes one batch: sizes and summaries first, the local
// pre-check of each, then one UID FETCH of BODY.PEEK[] (the server's
// \Seen does not change) for the messages to take, each streamed into
// the queue. It returns the UIDs it recorded (queued or skipped); one the
// server sent no body for is not among them.
func (f *Fetcher) imapBatch(ctx context.Context, ic *imapConn, folder string, uv uint32, batch []imap.UID, s *stepper) (map[imap.UID]bool, error) {
	a := ic.account
	recorded := map[imap.UID]bool{}
	waiting := s.waiting
	infos, err := f.imapInfo(ic, batch)
	if err != nil {
		return nil, err
	}
	var want []imap.UID
	for _, u := range batch {
		in, ok := infos[u]
		if !ok {
			continue // expunged since the search: nothing to take
		}
		o := origin{a: a, proto: ic.proto, folder: folder, uidvalidity: uv, uid: strconv.FormatUint(uint64(u), 10)}
		refusal, wait, stop := f.ready(ctx, a, in.size)
		if stop != nil {
			return recorded, stop
		}
		if wait != nil {
			s.waiting++
			s.waitingWhy = wait
			continue
		}
		if refusal != nil {
			if err := f.recordSkip(ctx, o, in.size, in.summary, refusal, s.res); err != nil {
				return recorded, err
			}
			recorded[u] = true
			continue
		}
		want = append(want, u)
	}
	if len(want) == 0 {
		return recorded, nil
	}
	pp := f.newPipe(ctx, s)
	err = ic.fetchEach(want, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}},
		func(uid imap.UID, lit imap.LiteralReader) error {
			// An empty body for a message that has a size is no message;
			// BODY[] NIL (Dovecot's answer for a message another session
			// expunged) never comes here. Both are left alone: not
			// recorded, never deleted, found again if still there.
			if lit.Size() == 0 && infos[uid].size > 0 {
				f.log().Info("the server sent no body for a message; it is left alone", "account", a.Name, "server", where(a),
					"folder", folder, "uid", uid)
				return nil
			}
			o := origin{a: a, proto: ic.proto, folder: folder, uidvalidity: uv, uid: strconv.FormatUint(uint64(uid), 10)}
			return pp.take(o, lit, lit.Size(), func() { recorded[uid] = true })
		}, nil)
	// Everything on its way is recorded, whatever ended the fetch.
	if perr := pp.finish(); err == nil {
		err = perr
	}
	if gone := len(batch) - len(recorded) - (s.waiting - waiting); err == nil && gone > 0 {
		f.log().Info("messages gone from the server between the search and their fetch (another client expunged them?) are left alone",
			"account", a.Name, "server", where(a), "folder", folder, "count", gone)
	}
	return recorded, err
}

// imapAfterDue deletes or moves the folder's delivered messages whose
// after-action is not done yet: only those.
func (f *Fetcher) imapAfterDue(ctx context.Context, ic *imapConn, folder string, uv uint32, res *Result) error {
	a := ic.account
	if a.After == "keep" {
		return nil
	}
	rows, err := f.Store.FetchedDue(ctx, a.Name, folder, uv)
	if err != nil {
		return fail(CauseLocal, "read what was fetched from "+folder, err, nil)
	}
	var due []imap.UID
	for _, m := range rows {
		if n, err := strconv.ParseUint(m.UID, 10, 32); err == nil && n > 0 {
			due = append(due, imap.UID(n))
		}
	}
	if len(due) == 0 {
		return nil
	}
	slices.Sort(due)
	// In commands of fetch.batch UIDs: each answer comes well within
	// fetch.timeout, and a crash between two leaves less to repeat.
	for len(due) > 0 {
		n := min(len(due), max(f.Cfg.Batch, 1))
		if err := f.imapAfter(ctx, ic, folder, uv, due[:n], res); err != nil {
			return err
		}
		due = due[n:]
	}
	return nil
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

func afterFailure(a *fetchstate.FetchAccount, what string, err error, ic *imapConn) error {
	var ie *imap.Error
	if errors.As(err, &ie) {
		cause := CauseServer
		fix := because("the messages are delivered and recorded; the " + a.After + " is tried again at the next attempt")
		if a.After == "move" {
			cause = CauseFolder
			fix = diag.Because("the messages are delivered and recorded; the move is tried again at the next attempt: see whether the server has the folder "+a.MoveTo,
				diag.Command("ebb", "fetch", "test", a.Name))
		}
		return fail(cause, what+" the fetched messages on "+where(a), fmt.Errorf("the server says: %s", ie.Text), fix)
	}
	return ic.explain(err)
}
